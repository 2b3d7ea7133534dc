"""What may drive a session beyond the emulator: the :class:`Script` protocol, and the public
actions and reads a script has on the session it is attached to (:class:`ScriptedSession`).

The scenario runner is the script of a scenario; the recorder's replay is another. A script sees
every valid client event before the emulator handles it, is asked for the plan of every
response, and is polled at the deadlines it names; it acts only through
:class:`ScriptedSession` (no private state of the session).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING, Any, Protocol

from mock_server.protocol.errors import RealtimeError
from mock_server.responder import ResponsePlan, ResponseRequest
from mock_server.session.transcription import Transcribed

if TYPE_CHECKING:
    from mock_server.ids import IdFactory
    from mock_server.session.outputs import Close, Drop
    from mock_server.session.session import Session
    from mock_server.transcript import Finding, Transcript


class ScriptedSession(Protocol):
    """What a script may do to and read of its session (a :class:`Session` is one; its fault
    actions are those of :class:`mock_server.scenario.actions.Actions`)."""

    ids: IdFactory
    transcript: Transcript
    closed: Close | Drop | None

    @property
    def started_at(self) -> float:
        """When the session opened (on the driver's clock)."""
        ...

    @property
    def findings(self) -> list[Finding]: ...

    def input_format(self) -> str: ...

    def inject(self, event: dict[str, Any]) -> dict[str, Any]: ...

    def send_error(
        self,
        message: str,
        code: str | None = None,
        *,
        type_: str = "invalid_request_error",
        param: str | None = None,
        event_id: str | None = None,
    ) -> None: ...

    def close(self, code: int, reason: str) -> None: ...

    def drop(self) -> None: ...

    def stall(self, seconds: float) -> None: ...

    def send_raw(self, data: str | bytes) -> None: ...

    def expire(self) -> None: ...

    def active_response_id(self) -> str | None: ...

    def create_response(self, plan: ResponsePlan, overrides: dict[str, Any] | None = None) -> str:
        """Start a response the client did not ask for (server-initiated); returns its id."""
        ...

    def client_events(self, type_: str | None = None) -> Iterable[dict[str, Any]]: ...


class Script(Protocol):
    """What drives a session beyond the emulator (the scenario runner implements it)."""

    def attach(self, session: Session, now: float) -> None: ...

    def on_client_event(self, event: dict[str, Any], now: float) -> bool:
        """Return True when the script has handled the event (the emulator then does nothing)."""
        ...

    def on_rejected_event(self, event: dict[str, Any], now: float) -> bool:
        """An event the emulator's validation refuses: True when the script answers it instead
        (the emulator then sends no error of its own)."""
        ...

    def plan_response(self, request: ResponseRequest) -> ResponsePlan | None:
        """The plan of the next response, or None to let the emulator's responder answer."""
        ...

    def poll(self, now: float) -> None: ...

    def detach(self) -> None:
        """The connection has ended: drop the session, keeping what the verdict needs."""
        ...

    def next_deadline(self) -> float | None: ...

    def transcribe(self, audio: bytes) -> Transcribed | RealtimeError | None:
        """The input transcription of a committed turn: text, a failure, or None (default)."""
        ...
