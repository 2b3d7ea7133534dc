"""Strict JSON in and out: integers of any size, NaN and Infinity tokens, overflowing floats."""

from __future__ import annotations

import json
import math
import random

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


@given(st.dictionaries(_KEYS, _JSONISH, max_size=6))
def test_wire_json_is_the_wire_encoders_text_or_error(event: dict[object, object]) -> None:
    # The outbox's fast path must send exactly what WIRE_JSON would (non-ASCII escaped, floats
    # as repr, NaN and infinities refused with the same error).
    assert _outcome(wire_json, event) == _outcome(WIRE_JSON.encode, event)


def test_wire_json_refuses_what_the_wire_encoder_refuses() -> None:
    circular: dict[str, object] = {}
    circular["self"] = circular
    for bad in ({"n": math.nan}, {"n": -math.inf}, {"x": object()}, circular):
        assert _outcome(wire_json, bad) == _outcome(WIRE_JSON.encode, bad)
        assert _outcome(wire_json, bad)[0] != "text"


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
