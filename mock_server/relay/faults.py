"""A passthrough scenario's faults on a relayed connection, through the one interpreter.

:func:`~mock_server.scenario.actions.perform` decides what a rule's step asks (an ``error``, a
``send``, a ``close``, ...); :class:`RelayActions` is the relay's side of its
:class:`~mock_server.scenario.actions.Actions` protocol. Its methods are synchronous, as the
protocol's are: each queues what is to reach the client, in order (a frame, a close, a cut, a
pause), and the relay sends the queue (:meth:`~mock_server.relay.relayed.Relay._send_queued`)
after each step, so that a ``stall`` holds back what follows it.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from mock_server.protocol.limits import MAX_SESSION_DURATION_S
from mock_server.transcript import Transcript


@dataclass(frozen=True, slots=True)
class Frame:
    """One frame for the client: an event's wire text, or raw data."""

    data: str | bytes


@dataclass(frozen=True, slots=True)
class CloseWith:
    """Close the client's connection with this code and reason."""

    code: int
    reason: str


@dataclass(frozen=True, slots=True)
class Cut:
    """Cut the client's connection without a close frame."""


@dataclass(frozen=True, slots=True)
class Pause:
    """Send nothing for ``seconds``."""

    seconds: float


Queued = Frame | CloseWith | Cut | Pause


class RelayActions:
    """The :class:`~mock_server.scenario.actions.Actions` of a relayed connection: each action
    queues its outputs in ``queue``; ``emit`` is the relay's one exit for its own events
    (event in, wire dict and text out)."""

    def __init__(
        self,
        emit: Callable[[dict[str, Any]], tuple[dict[str, Any], str]],
        transcript: Transcript,
        clock: Callable[[], float],
    ) -> None:
        self.queue: list[Queued] = []
        self._emit = emit
        self._transcript = transcript
        self._clock = clock

    def inject(self, event: dict[str, Any]) -> dict[str, Any]:
        wire, text = self._emit(event)
        self.queue.append(Frame(text))
        return wire

    def send_error(
        self,
        message: str,
        code: str | None,
        *,
        type_: str = "invalid_request_error",
        param: str | None = None,
        event_id: str | None = None,
    ) -> None:
        error = {"type": type_, "code": code, "message": message, "param": param}
        self.inject({"type": "error", "error": {**error, "event_id": event_id}})

    def close(self, code: int, reason: str) -> None:
        self.queue.append(CloseWith(code, reason))

    def drop(self) -> None:
        self.queue.append(Cut())

    def stall(self, seconds: float) -> None:
        self.queue.append(Pause(seconds))

    def send_raw(self, data: str | bytes) -> None:
        shown = data if isinstance(data, str) else f"<{len(data)} bytes>"
        self._transcript.add(self._clock(), "server", "<raw>", raw=shown[:2000])
        self.queue.append(Frame(data))

    def expire(self) -> None:
        # A relayed session expires at the live service's limit: the relay has no other.
        from mock_server.session import expiry_message

        message = expiry_message(MAX_SESSION_DURATION_S)
        error = {"type": "invalid_request_error", "code": "session_expired", "message": message}
        self.inject({"type": "error", "error": {**error, "param": None}})
        self.close(1001, message)
