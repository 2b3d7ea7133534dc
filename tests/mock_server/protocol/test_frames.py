"""Strict JSON in and out: integers of any size, NaN and Infinity tokens, overflowing floats."""

from __future__ import annotations

import json
import math
import random
from collections.abc import Callable

import pytest
from hypothesis import given
from hypothesis import strategies as st

from mock_server.protocol import frames
from mock_server.protocol.frames import WIRE_JSON, FrameError, parse_client_json, wire_json


@given(st.integers(min_value=1, max_value=6000), st.booleans(), st.randoms())
def test_an_integer_of_any_size_parses_or_is_a_frame_error(
    digits: int, negative: bool, rng: random.Random
) -> None:
    literal = ("-" if negative else "") + "".join(
        [str(rng.randint(1, 9)), *(str(rng.randint(0, 9)) for _ in range(digits - 1))]
    )
    text = '{"n":' + literal + "}"
    if digits > 4300:
        with pytest.raises(FrameError, match="more than 4300 digits"):
            parse_client_json(text)
    else:
        assert isinstance(parse_client_json(text)["n"], int)


@given(
    st.sampled_from(["NaN", "Infinity", "-Infinity", "1e400", "-1e999", "1.5e308"]),
    st.sampled_from(['{"t":%s}', "[1,%s]", '{"a":{"b":[%s]}}']),
)
def test_non_finite_numbers_are_frame_errors(token: str, shape: str) -> None:
    text = shape % token
    if token == "1.5e308":  # large but finite: a number like any other
        parse_client_json(text)
        return
    with pytest.raises(FrameError):
        parse_client_json(text)


def test_syntax_errors_stay_json_decode_errors_with_their_position() -> None:
    with pytest.raises(json.JSONDecodeError):
        parse_client_json('{"a": }')


@pytest.mark.parametrize("value", [math.nan, math.inf, -math.inf])
def test_the_wire_encoder_refuses_non_finite_numbers(value: float) -> None:
    with pytest.raises(ValueError):
        WIRE_JSON.encode({"x": value})


_KEYS = st.one_of(st.text(), st.integers(), st.floats(), st.booleans(), st.none())
_JSONISH = st.recursive(
    st.one_of(st.none(), st.booleans(), st.integers(), st.floats(), st.text()),
    lambda inner: st.one_of(st.lists(inner, max_size=4), st.dictionaries(_KEYS, inner, max_size=4)),
    max_leaves=20,
)


def _outcome(encode: object, value: object) -> tuple[str, str]:
    try:
        return "text", encode(value)  # type: ignore[operator]
    except (ValueError, TypeError) as error:
        return type(error).__name__, str(error)


def _floats_in_notation(value: object) -> bool:
    """Whether ``value`` holds a float that orjson and ``WIRE_JSON`` may write differently:
    a non-finite one, or one Python writes with an exponent (wire_json's two documented
    differences)."""
    if isinstance(value, float):
        return not math.isfinite(value) or "e" in repr(value)
    if isinstance(value, dict):
        return any(_floats_in_notation(k) or _floats_in_notation(v) for k, v in value.items())
    if isinstance(value, list):
        return any(_floats_in_notation(v) for v in value)
    return False


@given(st.dictionaries(_KEYS, _JSONISH, max_size=6))
def test_wire_json_is_the_wire_encoders_text_or_error(event: dict[object, object]) -> None:
    # The outbox's fast path (orjson, and WIRE_JSON's way where orjson's text could differ)
    # must send exactly what WIRE_JSON would: non-ASCII escaped, keys that are not strings
    # converted, the same error for what it refuses. Floats in exponent notation and
    # non-finite ones are held to the next test.
    if _floats_in_notation(event):
        return
    assert _outcome(wire_json, event) == _outcome(WIRE_JSON.encode, event)


@given(st.dictionaries(st.text(), _JSONISH, max_size=6))
def test_wire_json_writes_floats_in_notation_as_the_same_number(event: dict[str, object]) -> None:
    # The two documented differences: a float Python writes with an exponent is the same
    # number in orjson's notation; a NaN or an infinity (which nothing lets in) is null, or
    # refused as WIRE_JSON refuses it where the event takes WIRE_JSON's way.
    outcome = _outcome(WIRE_JSON.encode, event)
    ours = _outcome(wire_json, event)
    if outcome[0] == "text":
        assert ours[0] == "text" and ours[1].isascii()
        assert json.loads(ours[1]) == json.loads(outcome[1])
    else:
        assert outcome[0] == "ValueError"
        assert ours == outcome or (ours[0] == "text" and "null" in ours[1])


@pytest.mark.parametrize(
    ("value", "text"),
    [(1e-05, "0.00001"), (-2.5e-7, "-2.5e-7"), (math.nan, "null"), (math.inf, "null")],
)
def test_wire_json_floats_in_orjson_notation(value: float, text: str) -> None:
    assert wire_json({"x": value}) == '{"x":' + text + "}"


@pytest.mark.parametrize(
    "value",
    ["caf\u00e9", "\x7f", "\ud800", 2**64, -(2**63) - 1, {1: "int key"}, (1, 2), True],
    ids=[
        "non-ascii",
        "del",
        "lone-surrogate",
        "past-64-bits",
        "below-64-bits",
        "int-key",
        "tuple",
        "bool",
    ],
)
def test_wire_json_takes_the_wire_encoders_way_where_orjson_would_differ(value: object) -> None:
    assert wire_json({"x": value, "deep": [[[[value]]]]}) == WIRE_JSON.encode(
        {"x": value, "deep": [[[[value]]]]}
    )


def test_wire_json_refuses_what_the_wire_encoder_refuses() -> None:
    import dataclasses
    import datetime

    @dataclasses.dataclass
    class Point:
        x: int

    class Text(str):
        pass

    circular: dict[str, object] = {}
    circular["self"] = circular
    deep: list[object] = []
    for _ in range(300):  # past orjson's nesting limit, within Python's
        deep = [deep]
    for bad in ({"x": object()}, circular, {"p": Point(1)}, {"d": datetime.date(2026, 1, 1)}):
        assert _outcome(wire_json, bad) == _outcome(WIRE_JSON.encode, bad)
        assert _outcome(wire_json, bad)[0] != "text"
    for odd in ({"s": Text("sub")}, {"deep": deep}):
        assert _outcome(wire_json, odd) == _outcome(WIRE_JSON.encode, odd)


_JSON_TEXTS = st.one_of(
    st.recursive(
        st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(),
        lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(), inner, max_size=3),
        max_leaves=8,
    ).map(json.dumps),
    st.text(alphabet=' \t\n\r{}[]":,0123456789.eE+-truefalsnNaIiy\\u', max_size=20),
)


@given(_JSON_TEXTS, st.sampled_from(["", " ", "\n\t", " x"]), st.sampled_from(["", "  ", "\r\n"]))
def test_the_frame_decoder_is_the_strict_decoder_called_directly(
    text: str, after: str, before: str
) -> None:
    framed = before + text + after
    outcomes = []
    for decode in (frames._decode, frames._STRICT_JSON.decode):
        try:
            outcomes.append(("value", repr(decode(framed))))
        except json.JSONDecodeError as exc:
            outcomes.append(("error", (exc.msg, exc.pos)))
        except (FrameError, ValueError, RecursionError) as exc:
            outcomes.append(("error", (type(exc).__name__, str(exc))))
    assert outcomes[0] == outcomes[1]


def _read_outcome(read: Callable[[str], object], text: str) -> tuple[str, object]:
    """What a reader makes of a text: its value to the type and the float's bits (repr), or
    its error, message and position."""
    try:
        return ("value", repr(read(text)))
    except json.JSONDecodeError as exc:
        return ("error", (exc.msg, exc.pos))
    except (FrameError, ValueError, RecursionError) as exc:
        return ("error", (type(exc).__name__, str(exc)))


_SIGNS = st.sampled_from(["", "-"])
_INTEGER_LITERALS = st.builds(
    lambda sign, digits: sign + digits.lstrip("0") if digits.lstrip("0") else sign + "0",
    _SIGNS,
    st.text(alphabet="0123456789", min_size=1, max_size=25),
)
_FLOAT_LITERALS = st.builds(
    lambda whole, fraction, exponent: whole + fraction + exponent,
    _INTEGER_LITERALS,
    st.one_of(
        st.just(""), st.text(alphabet="0123456789", min_size=1, max_size=22).map(".".__add__)
    ),
    st.one_of(st.just(""), st.integers(-420, 420).map(lambda e: f"e{e}")),
)
_STRINGS = st.one_of(
    # Raw text (control characters and non-ASCII as they are), and escapes as written.
    st.text(max_size=12).map(lambda s: s.replace('"', "").replace("\\", "")),
    st.sampled_from(["\\ud800", "\\udc00x", "\\ud83d\\ude00", "\\u0000", "\\/", "\\n", "\\x"]),
).map(lambda s: f'"{s}"')
_VALUES = st.one_of(_INTEGER_LITERALS, _FLOAT_LITERALS, _STRINGS, st.sampled_from(["NaN", "null"]))
_FRAMES = st.one_of(
    st.lists(st.tuples(st.sampled_from(["type", "a", "b", "a"]), _VALUES), max_size=5).map(
        lambda fields: "{" + ",".join(f'"{key}":{value}' for key, value in fields) + "}"
    ),
    st.lists(_VALUES, max_size=6).map(lambda values: "[" + ",".join(values) + "]"),
    _VALUES.map(lambda value: '{"type":"x","item":{"content":[' + value + "]}}"),
    _JSON_TEXTS,
)


@given(_FRAMES)
def test_orjson_reads_a_frame_as_the_strict_decoder_does(text: str) -> None:
    """``_read`` takes orjson's value only where it is the scanner's: every number of any
    length and exponent, lone surrogates, duplicate keys, NaN, and every error as before."""
    assert _read_outcome(frames._read, text) == _read_outcome(frames._decode, text)


@pytest.mark.parametrize(
    "text",
    [
        '{"n":18446744073709551616}',  # orjson: a float
        '{"n":-9223372036854775809}',
        '{"type":"a","audio":"\\ud800"}',  # orjson refuses a lone surrogate
        '{"n":1e400}',
        '{"n":-0}',
        '{"a":"1","a":"2","b":"3"}',
        '{"type":"input_audio_buffer.append","audio":"' + "0123456789" * 4 + '"}',
    ],
)
def test_orjson_reading_keeps_what_it_would_read_differently(text: str) -> None:
    assert _read_outcome(frames._read, text) == _read_outcome(frames._decode, text)
