"""Strict JSON in and out: integers of any size, NaN and Infinity tokens, overflowing floats."""

from __future__ import annotations

import json
import math
import random

import pytest
from hypothesis import given
from hypothesis import strategies as st

from mock_server.protocol.frames import WIRE_JSON, FrameError, parse_client_json


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
