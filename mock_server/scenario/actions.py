"""The one interpreter of a scenario's faults and raw sends, over an :class:`Actions` protocol.

A step such as ``error:``, ``send:``, ``close:``, ``drop:``, ``stall:``, ``garbage:`` or
``expire:`` means the same on an emulated session (the scenario runner, whose session is the
``Actions``) and on a relayed one (a passthrough scenario's rules, whose relay is). Each
implementation says how an action reaches its wire; this module says what each step asks for.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Protocol

from mock_server.scenario.model import Step

GARBAGE = '{"type": "response.output_text.delta", "delta": "trunc'
"""What ``garbage: true`` sends: a server event cut off mid-frame (invalid JSON)."""


class Actions(Protocol):
    """What a fault may do to a connection, in the server's name."""

    def inject(self, event: dict[str, Any]) -> Any:
        """Send ``event`` as a server event (GA names; encoded for the connection's dialect)."""

    def send_error(
        self,
        message: str,
        code: str | None,
        *,
        type_: str = "invalid_request_error",
        param: str | None = None,
        event_id: str | None = None,
    ) -> None:
        """Send an ``error`` event."""

    def close(self, code: int, reason: str) -> None:
        """Close the connection with a WebSocket close code and reason."""

    def drop(self) -> None:
        """Cut the connection without a close frame."""

    def stall(self, seconds: float) -> None:
        """Send nothing for ``seconds`` (of the scenario's time)."""

    def send_raw(self, data: str | bytes) -> None:
        """Send ``data`` as one frame, unchecked (malformed traffic on purpose)."""

    def expire(self) -> None:
        """The session's maximum duration is reached: ``session_expired``, then a close."""


def perform(step: Step, actions: Actions, render_send: Callable[[Any], Any]) -> bool:
    """Do what a fault or raw-send ``step`` asks; False when ``step`` is none of those.

    ``render_send`` fills a ``send:`` event's templates (captures, ids); the
    :class:`~mock_server.scenario.templating.TemplateError` it raises is left to the caller,
    which says where the scenario went wrong.
    """
    if step.send is not None:
        actions.inject(render_send(step.send))
    elif step.error is not None:
        fault = step.error
        actions.send_error(
            fault.message, fault.code, type_=fault.type, param=fault.param, event_id=fault.event_id
        )
    elif step.close is not None:
        actions.close(step.close.code, step.close.reason)
    elif step.drop:
        actions.drop()
    elif step.stall is not None:
        actions.stall(step.stall)
    elif step.garbage is not None and step.garbage is not False:
        actions.send_raw(step.garbage if isinstance(step.garbage, str) else GARBAGE)
    elif step.expire:
        actions.expire()
    else:
        return False
    return True
