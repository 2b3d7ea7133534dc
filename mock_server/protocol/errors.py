"""Errors the Realtime API reports in-band, as one exception type.

A :class:`RealtimeError` is what the session raises when a client event is wrong; the session
turns it into an ``error`` server event and carries on, as the live service does. The
constructors below hold the live service's codes and messages (PROTOCOL.md section 7) in one
place.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any


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
            "message": self.message,
            "param": self.param,
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
