"""The scenario format's base: the strict model every part derives from, durations, bounds.

Every model forbids unknown fields, so a typo is an error with its line. The bounds are the
ones docs/scenarios.md lists under "Checks and bounds"; a value outside them gets
:func:`bound_error`, whose hint the loader shows after the line.
"""

from __future__ import annotations

from http import HTTPStatus
from typing import Annotated, Any

from pydantic import BaseModel, BeforeValidator, ConfigDict, WithJsonSchema
from pydantic_core import PydanticCustomError

from mock_server.units import DURATION_PATTERN, parse_duration

DURATION_SCHEMA: dict[str, Any] = {
    "anyOf": [
        {"type": "number", "minimum": 0, "description": "seconds"},
        {"type": "string", "pattern": DURATION_PATTERN},
    ],
    "description": "A duration: seconds, or a string such as 500ms, 2s, 60m.",
}
Duration = Annotated[float, BeforeValidator(parse_duration), WithJsonSchema(DURATION_SCHEMA)]


class Strict(BaseModel):
    """A part of the format: unknown fields are errors."""

    model_config = ConfigDict(extra="forbid")


# ---- bounds (docs/scenarios.md, "Checks and bounds") ---------------------------------------------

MAX_REPEAT_TIMES = 10_000
# Steps one connection's script may unroll to: each step counts one, a repeat counts its steps
# ``times`` over. The runner unrolls a connection's steps when it starts (the server's event loop).
MAX_UNROLLED_STEPS = 10_000
MAX_CLOSE_REASON_BYTES = 123  # a close frame's payload is at most 125 bytes, 2 of them the code
REFUSAL_STATUSES = tuple(s.value for s in HTTPStatus if 400 <= s.value < 600)
NOT_STATUSES = {
    499: "499 is nginx's log entry for a client that hung up, never sent to a client",
    599: "599 is what some proxies log for a network timeout, never sent to a client: use 504",
}
RESERVED_CLOSE_CODES = {
    1004: "1004 is reserved",
    1005: "1005 (no status) is what a client reports when a close frame has no code",
    1006: "1006 (abnormal closure) is what a client reports when the connection is cut: "
    "use drop: true for that",
    1015: "1015 (TLS handshake failure) is never sent in a close frame",
}


def bound_error(message: str, hint: str) -> PydanticCustomError:
    """A value outside the format's bounds; the loader shows ``hint`` after the line."""
    # The message is a template of the context's names: a "{hint}" in it would be replaced.
    return PydanticCustomError("scenario_bound", message, {"hint": hint})


def sendable_close_code(code: int) -> bool:
    """Whether a close frame may carry ``code`` (RFC 6455 section 7.4; websockets agrees).

    >>> [c for c in (1000, 1005, 1011, 2000, 3000, 4999, 5000) if sendable_close_code(c)]
    [1000, 1011, 3000, 4999]
    """
    return 1000 <= code <= 1003 or 1007 <= code <= 1014 or 3000 <= code <= 4999


CLOSE_CODE_SCHEMA: dict[str, Any] = {
    "anyOf": [
        {"type": "integer", "minimum": 1000, "maximum": 1003},
        {"type": "integer", "minimum": 1007, "maximum": 1014},
        {"type": "integer", "minimum": 3000, "maximum": 4999},
    ],
    "description": "A code a close frame may carry: 1000-1003, 1007-1014, 3000-4999.",
}


__all__ = [
    "CLOSE_CODE_SCHEMA",
    "DURATION_SCHEMA",
    "MAX_CLOSE_REASON_BYTES",
    "MAX_REPEAT_TIMES",
    "MAX_UNROLLED_STEPS",
    "NOT_STATUSES",
    "REFUSAL_STATUSES",
    "RESERVED_CLOSE_CODES",
    "Duration",
    "Strict",
    "bound_error",
    "sendable_close_code",
]
