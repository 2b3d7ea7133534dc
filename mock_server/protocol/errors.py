"""Errors the Realtime API reports in-band, as one exception type.

A :class:`RealtimeError` is what the session raises when a client event is wrong; the session
turns it into an ``error`` server event and carries on, as the live service does. The
constructors below hold the live service's codes and messages (PROTOCOL.md section 7) in one
place.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any

# Messages quote the client's values (a type, an item id, a key); a client that sent megabytes
# gets a readable error, not its megabytes back (which could also exceed its frame limit).
MAX_MESSAGE_CHARS = 1000
MAX_PARAM_CHARS = 200


def elide(text: str, limit: int) -> str:
    """``text`` cut in the middle when it is longer than ``limit`` characters.

    >>> elide("Invalid value: '" + "x" * 50 + "'.", 40)
    "Invalid value: 'xxxxxxxxxx […29 characters…] xxxxxxxxxxx'."
    """
    if len(text) <= limit:
        return text
    head, tail = limit * 2 // 3, limit // 3
    return f"{text[:head]} […{len(text) - head - tail} characters…] {text[-tail:]}"


@dataclass(frozen=True)
class RealtimeError(Exception):
    """An error the server reports as ``{"type": "error", "error": {...}}``."""

    message: str
    code: str | None = None
    param: str | None = None
    type: str = "invalid_request_error"
    event_id: str | None = None

    def __str__(self) -> str:
        where = f" (param {self.param})" if self.param else ""
        return f"{self.type}.{self.code}: {self.message}{where}"

    def for_event(self, event_id: str | None) -> RealtimeError:
        """The same error, naming the client event that caused it."""
        return replace(self, event_id=event_id)

    def payload(self) -> dict[str, Any]:
        """The ``error`` object of the server event."""
        return {
            "type": self.type,
            "code": self.code,
            "message": elide(self.message, MAX_MESSAGE_CHARS),
            "param": None if self.param is None else elide(self.param, MAX_PARAM_CHARS),
            # Echoed whole: clients match errors to their events by it.
            "event_id": self.event_id,
        }


def unknown_parameter(param: str) -> RealtimeError:
    return RealtimeError(f"Unknown parameter: '{param}'.", "unknown_parameter", param)


def missing_required_parameter(param: str) -> RealtimeError:
    return RealtimeError(
        f"Missing required parameter: '{param}'.", "missing_required_parameter", param
    )


def invalid_value(param: str, value: Any, allowed: str | None = None) -> RealtimeError:
    hint = f" Supported values are: {allowed}." if allowed else ""
    return RealtimeError(f"Invalid value: {value!r}.{hint}", "invalid_value", param)


def invalid_type(param: str, expected: str, value: Any) -> RealtimeError:
    return RealtimeError(
        f"Invalid type for '{param}': expected {expected}, but got {type(value).__name__}.",
        "invalid_type",
        param,
    )
