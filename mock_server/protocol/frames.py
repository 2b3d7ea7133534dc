"""Parse one client frame's JSON strictly, and encode server frames strictly.

The live service speaks RFC 8259 JSON, which has no ``NaN``, ``Infinity`` or ``-Infinity``;
Python's ``json`` accepts those tokens, turns a float literal too large for a double
(``1e400``) into infinity, and raises a bare ``ValueError`` (not a ``JSONDecodeError``) for an
integer literal longer than the interpreter's int-conversion limit (4,300 digits). Every one of
those is a malformed frame here: :func:`parse_client_json` raises :class:`FrameError`, which the
session answers with an ``invalid_json`` error (the connection survives). The relay can reuse the
same function for the frames it forwards. :data:`WIRE_JSON` is the one encoder of every server
event: compact, and refusing NaN, so that a non-finite number that slipped into the state is a
bug found at once rather than a frame a strict client cannot parse.
"""

from __future__ import annotations

import json
import math
import sys
from typing import Any, NoReturn

# Objects and arrays one frame may hold. Parsing and validating cost about 4 us each, so a
# frame of 10,000 (a session.update with a hundred rich tools, an item of thousands of parts)
# still costs well under 100 ms of the event loop every session shares; audio is one string.
MAX_FRAME_VALUES = 10_000
# Below this size a frame cannot hold that many values, and is not counted.
_COUNT_FROM = 2 * MAX_FRAME_VALUES

# Compact JSON for every event sent; one encoder, not one built per json.dumps call.
WIRE_JSON = json.JSONEncoder(separators=(",", ":"), allow_nan=False)


class FrameError(ValueError):
    """A frame that is not strict JSON; ``message`` says what and, where known, where."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


def _refuse_constant(token: str) -> NoReturn:
    raise FrameError(
        f"'{token}' is not valid JSON: numbers must be finite (send null or a number instead)."
    )


def _finite_float(literal: str) -> float:
    value = float(literal)
    if not math.isfinite(value):
        shown = literal if len(literal) <= 40 else literal[:40] + "..."
        raise FrameError(f"The number {shown} is too large to be represented (it overflows).")
    return value


def parse_client_json(text: str) -> Any:
    """The value of one frame's JSON text; :class:`FrameError` for what strict JSON refuses.

    ``json.JSONDecodeError`` (a syntax error, with its position) is left to the caller, and
    so is ``RecursionError`` (nesting deeper than the parser goes).

    >>> parse_client_json('{"temperature": 0.8}')
    {'temperature': 0.8}
    >>> try:
    ...     parse_client_json('{"threshold": NaN}')
    ... except FrameError as error:
    ...     print(error.message[:22])
    'NaN' is not valid JSO
    """
    if len(text) > _COUNT_FROM:
        # str.count runs at memory speed; brackets inside strings count too, which only
        # errs on the safe side for a pathological frame.
        values = text.count("{") + text.count("[")
        if values > MAX_FRAME_VALUES:
            raise FrameError(
                f"The event holds {values:,} objects and arrays; at most "
                f"{MAX_FRAME_VALUES:,} are parsed in one event (split it into several)."
            )
    try:
        return json.loads(text, parse_constant=_refuse_constant, parse_float=_finite_float)
    except FrameError:
        raise
    except json.JSONDecodeError:
        raise
    except ValueError as exc:
        # The only other ValueError the decoder raises: an integer literal over the
        # interpreter's int-conversion limit.
        limit = sys.get_int_max_str_digits()
        raise FrameError(
            f"An integer in the frame has more than {limit} digits, over the limit this "
            "service parses."
        ) from exc
