"""Parse one client frame's JSON strictly, and encode server frames strictly.

The live service speaks RFC 8259 JSON, which has no ``NaN``, ``Infinity`` or ``-Infinity``;
Python's ``json`` accepts those tokens, turns a float literal too large for a double
(``1e400``) into infinity, and raises a bare ``ValueError`` (not a ``JSONDecodeError``) for an
integer literal longer than the interpreter's int-conversion limit (4,300 digits). Every one of
those is a malformed frame here: :func:`parse_client_json` raises :class:`FrameError`, which the
session answers with an ``invalid_json`` error (the connection survives). orjson reads the
frames it certainly reads alike (see :func:`_read`); the strict decoder reads the rest and
gives every error. :func:`read_frame` is the one classification of a client frame (binary,
invalid JSON, too deep, not an object), used by the session, which answers a malformed frame,
and by the relay, which notes it and passes it on. :func:`wire_json` writes every server
event (orjson, with :data:`WIRE_JSON`'s text where orjson's could differ); :data:`WIRE_JSON`
and :func:`standard_json` are compact and refuse NaN, so that a non-finite number in what a
scenario gives, or in the session object, is a bug found at once rather than a frame a strict
client cannot parse.
"""

from __future__ import annotations

import json
import math
import re
import sys
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, NoReturn

import orjson

from mock_server.protocol.errors import RealtimeError

# Objects and arrays one frame may hold. Parsing and validating cost about 4 us each, so a
# frame of 10,000 (a session.update with a hundred rich tools, an item of thousands of parts)
# still costs well under 100 ms of the event loop every session shares; audio is one string.
MAX_FRAME_VALUES = 10_000
# Below this size a frame cannot hold that many values, and is not counted.
_COUNT_FROM = 2 * MAX_FRAME_VALUES

# Deeper events are refused before anything walks them (the deepest real ones, tool parameter
# schemas, nest a few tens of levels); Python's own recursion limit is about 1000.
MAX_EVENT_DEPTH = 100
# A session.update over this size is refused by the session without being walked.
MAX_SESSION_CONFIG_BYTES = 1024 * 1024
# What a transcript keeps of a malformed frame.
_EXCERPT = 2000

# Compact JSON for every event sent; one encoder, not one built per json.dumps call.
WIRE_JSON = json.JSONEncoder(separators=(",", ":"), allow_nan=False)
# The C encoder WIRE_JSON.encode builds for each call (None where CPython's accelerator is
# missing): called directly, an event's JSON costs 2.2 us instead of 3.6 (a text turn sends 15).
_C_MAKE_ENCODER: Any = getattr(json.encoder, "c_make_encoder", None)
_ESCAPE = json.encoder.encode_basestring_ascii
# What orjson writes differently from WIRE_JSON, it hands to ``default`` (None: it raises
# TypeError, and wire_json takes WIRE_JSON's way): subclasses, dataclasses, datetimes.
_ORJSON_DUMPS: Callable[..., bytes] = orjson.dumps
_ORJSON_OPTIONS = (
    orjson.OPT_PASSTHROUGH_SUBCLASS
    | orjson.OPT_PASSTHROUGH_DATACLASS
    | orjson.OPT_PASSTHROUGH_DATETIME
)


def wire_json(event: dict[str, Any]) -> str:
    """An event's JSON text as the wire carries it: compact, ASCII (other characters escaped as
    ``\\uXXXX``), keys in their order; ``WIRE_JSON.encode(event)``'s text for every value but
    floats outside the range Python writes without an exponent (see below).

    orjson writes it about 7 times faster (0.35 us for an ``item.created`` against 2.4). Where
    orjson's text could differ from ``WIRE_JSON``'s, the event takes ``WIRE_JSON``'s way
    instead, with its text or its error: a character outside ASCII or a DEL (which orjson
    writes raw), a type orjson would write and Python's encoder refuses (a dataclass, a
    datetime), a subclass of a JSON type, a key that is not a string, an integer past 64 bits,
    nesting past orjson's limit. Two differences remain, both in floats, and a property test
    holds every other value to the same text:

    - a float Python writes with an exponent (under 1e-4, or from 1e16 on) may be written as
      the same number in orjson's notation (``0.00001`` for ``1e-05``, ``2.5e-7`` for
      ``2.5e-07``);
    - a NaN or an infinity is written ``null``, where ``WIRE_JSON`` refuses it. None gets in:
      client frames are parsed strictly, a scenario's YAML refuses them where they are
      written, the events a scenario gives are written by :func:`standard_json` (which
      refuses them), and so is the session object (``session.created``, ``.updated``).

    >>> wire_json({"type": "response.done", "n": 1.5, "ok": True, "text": "é"})
    '{"type":"response.done","n":1.5,"ok":true,"text":"\\\\u00e9"}'
    """
    try:
        data = _ORJSON_DUMPS(event, None, _ORJSON_OPTIONS)
    except TypeError:  # orjson.JSONEncodeError: the standard encoder has the say
        return standard_json(event)
    # A byte's value, not a one-byte string: ``in`` then looks for it with memchr (30 ns for an
    # item.created, against 180 for ``b"\x7f"``).
    if data.isascii() and 0x7F not in data:
        return data.decode()
    return standard_json(event)


def standard_json(event: dict[str, Any]) -> str:
    """``WIRE_JSON.encode(event)``, the same text or error (a property test holds them equal),
    without the Python steps ``JSONEncoder.encode`` takes around its C encoder on every call:
    what the outbox writes an event a scenario gives with (refusing a NaN), and wire_json's
    way where orjson's text could differ.

    >>> standard_json({"n": 1e-05})
    '{"n":1e-05}'
    """
    if _C_MAKE_ENCODER is None or type(event) is not dict:
        return WIRE_JSON.encode(event)
    # The arguments JSONEncoder.iterencode passes for WIRE_JSON's settings (fresh markers for
    # each call: it checks for circular references, as WIRE_JSON does).
    encode = _C_MAKE_ENCODER({}, WIRE_JSON.default, _ESCAPE, None, ":", ",", False, False, False)
    return "".join(encode(event, 0))


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


# One decoder for every frame: json.loads with these hooks would build a new one per call.
_STRICT_JSON = json.JSONDecoder(parse_constant=_refuse_constant, parse_float=_finite_float)
# What JSONDecoder.decode does around its scanner, called here directly (one frame's parse
# without two Python calls a frame; tests/mock_server/protocol/test_frames.py holds them equal).
_SCAN: Any = vars(_STRICT_JSON)["scan_once"]
_SPACE: Any = re.compile(r"[ \t\n\r]*", re.VERBOSE | re.MULTILINE | re.DOTALL).match  # json's own


def _decode(text: str) -> Any:
    """``_STRICT_JSON.decode(text)``: the same value, or the same JSONDecodeError."""
    start = _SPACE(text, 0).end()
    try:
        value, end = _SCAN(text, start)
    except StopIteration as err:
        raise json.JSONDecodeError("Expecting value", text, err.value) from None
    end = _SPACE(text, end).end()
    if end != len(text):
        raise json.JSONDecodeError("Extra data", text, end)
    return value


# orjson reads a frame about three times faster than the scanner, and in the server (its
# caches shared with the socket's work) it saved 1.7 us of a 16 us round trip. It reads every
# text it accepts as the scanner does, but two kinds of number (an integer literal past 64 bits
# comes back a float; an overflowing float is its error, not ours) and a lone surrogate escape
# (refused): see :func:`_read`.
_ORJSON_LOADS: Callable[[str], Any] = orjson.loads
_DIGITS = b"0123456789"
# An integer literal orjson would read as a float has at least this many digits (-2**63 - 1).
_WIDE_INTEGER = 19


def _read(text: str) -> Any:
    """:func:`_decode`'s value or error, read by orjson where that is certainly the same value.

    orjson's value is taken when the frame is an object of strings alone (an append, a commit,
    a cancel), or holds fewer than 19 digits in all (so no integer orjson would read as a
    float: an item, a ``response.create``). A frame orjson refuses, and any other, is read by
    :func:`_decode`, which gives what it always gave: the value, or the error that says where
    the frame is wrong. A property test holds the two equal, to the type and the float's bits.
    """
    try:
        value = _ORJSON_LOADS(text)
    except ValueError:  # orjson.JSONDecodeError; the scanner's error says what and where
        return _decode(text)
    if type(value) is dict:
        for field in value.values():
            if type(field) is not str:
                break
        else:
            return value
    if len(text) - len(text.encode().translate(None, _DIGITS)) < _WIDE_INTEGER:
        return value
    return _decode(text)


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
        return _read(text)
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


@dataclass(frozen=True, slots=True)
class Malformed:
    """A client frame that is not one JSON event: what the transcript, verdict and client get."""

    label: str
    """The transcript's name for it: ``<binary>``, ``<invalid json>``, ``<too deep>``,
    ``<not an object>``."""
    raw: str
    """An excerpt of the frame (the size of a binary one) for the transcript."""
    finding: str
    """What was wrong, for the verdict's ``malformed_frame`` finding."""
    error: RealtimeError
    """The in-band error the live service answers it with."""


def read_frame(frame: str | bytes) -> dict[str, Any] | Malformed:
    """One client frame as an event (a JSON object), or what is wrong with it.

    An object's ``type`` is not checked here: a missing or non-string type is a rejected event,
    answered by the session like any other invalid field.

    >>> read_frame('{"type": "response.create"}')
    {'type': 'response.create'}
    >>> read_frame(b"\\x00\\x01").label, read_frame("[1]").label, read_frame("{").label
    ('<binary>', '<not an object>', '<invalid json>')
    """
    if isinstance(frame, bytes):
        return Malformed(
            "<binary>",
            f"<{len(frame)} bytes>",
            f"binary frame of {len(frame)} bytes",
            RealtimeError(
                "Binary frames are not supported: send each event as a JSON text frame.",
                "invalid_event",
            ),
        )
    raw = frame[:_EXCERPT]
    try:
        event = parse_client_json(frame)
        # An oversized session.update is refused by the session unwalked, however deep it is.
        oversized_update = (
            len(frame) > MAX_SESSION_CONFIG_BYTES
            and type(event) is dict
            and event.get("type") == "session.update"
        )
        # Only a frame with that many brackets can nest that deep (str.count is cheap).
        too_deep = (
            not oversized_update
            and frame.count("{") + frame.count("[") > MAX_EVENT_DEPTH
            and nesting_depth(event) > MAX_EVENT_DEPTH
        )
    except RecursionError:  # deeper than the parser goes: certainly too deep
        event, too_deep = None, True
    except json.JSONDecodeError as exc:
        return Malformed(
            "<invalid json>",
            raw,
            f"invalid JSON: {exc.msg}",
            RealtimeError(
                f"We could not parse the JSON body of your request. ({exc.msg} at line "
                f"{exc.lineno} column {exc.colno})",
                "invalid_json",
            ),
        )
    except FrameError as exc:  # NaN, an overflowing number, an integer too long to parse
        return Malformed(
            "<invalid json>",
            raw,
            f"invalid JSON: {exc.message}",
            RealtimeError(
                f"We could not parse the JSON body of your request. ({exc.message})",
                "invalid_json",
            ),
        )
    if too_deep:
        return Malformed(
            "<too deep>",
            raw,
            f"JSON nested over {MAX_EVENT_DEPTH} levels",
            RealtimeError(
                "We could not parse the JSON body of your request: it is nested more than "
                f"{MAX_EVENT_DEPTH} levels deep.",
                "invalid_json",
                event_id=event_id_of(event),
            ),
        )
    if not isinstance(event, dict):
        return Malformed(
            "<not an object>",
            raw,
            f"JSON {type(event).__name__}, not an object",
            RealtimeError(
                f"Each event must be a JSON object, got {type(event).__name__}.",
                "invalid_event",
            ),
        )
    return event


def nesting_depth(value: Any) -> int:
    """How deeply JSON containers nest in ``value`` (a scalar is 0), without recursion.

    Level by level, keeping only containers: a wide event (a large tool schema) costs one
    comprehension step per value, not a stack push and pop."""
    depth = 0
    level = [value] if type(value) in (dict, list) else []
    while level:
        depth += 1
        below: list[Any] = []
        for node in level:
            children = node.values() if type(node) is dict else node
            below.extend([child for child in children if type(child) in (dict, list)])
        level = below
    return depth


def event_id_of(event: Any) -> str | None:
    """The client's ``event_id`` when it gave a usable one (errors name it)."""
    event_id = event.get("event_id") if isinstance(event, dict) else None
    return event_id if isinstance(event_id, str) else None
