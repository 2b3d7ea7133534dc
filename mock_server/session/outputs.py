"""What a session hands its driver: the outputs :meth:`Session.due` returns, in order.

A driver (the websockets server, a test, the recorder) sends a :class:`ServerEvent`'s text,
closes on a :class:`Close`, cuts the connection on a :class:`Drop` and sends a :class:`RawFrame`
as it is; nothing else ever comes out of a session.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


@dataclass(slots=True)
class ServerEvent:
    """A JSON event ready for the wire: ``text`` is its encoding.

    Not frozen, though nothing changes one: a frozen dataclass sets each field through
    ``object.__setattr__``, 0.3 us an event against 0.12, and every event sent makes one."""

    event: dict[str, Any]
    text: str


@dataclass(frozen=True)
class Close:
    """Close the WebSocket with this code and reason."""

    code: int
    reason: str


@dataclass(frozen=True)
class Drop:
    """Cut the TCP connection without a close frame."""


@dataclass(frozen=True)
class RawFrame:
    """A frame sent as is (malformed traffic on purpose)."""

    data: str | bytes


Output = ServerEvent | Close | Drop | RawFrame
