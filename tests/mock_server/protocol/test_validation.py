"""Client events against the SDK's models (and the service's rules); our server events too."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from mock_server.protocol.events import Dialect
from mock_server.protocol.validation import (
    adapter,
    client_models,
    is_user_text_item,
    server_event_problems,
    validate_client_event,
    validate_with_models,
)

GA, BETA = Dialect.GA, Dialect.BETA
USER_TEXT = {"type": "message", "role": "user", "content": [{"type": "input_text", "text": "hi"}]}
TOOL = {"type": "function", "name": "f", "parameters": {"type": "object", "properties": {}}}

VALID: dict[Dialect, list[dict[str, Any]]] = {
    GA: [
        {"type": "session.update", "session": {"type": "realtime", "instructions": "x"}},
        {
            "type": "session.update",
            "session": {
                "type": "realtime",
                "output_modalities": ["text"],
                "tools": [TOOL],
                "tool_choice": {"type": "function", "name": "f"},
                "audio": {
                    "input": {
                        "format": {"type": "audio/pcmu"},
                        "turn_detection": {"type": "semantic_vad", "eagerness": "high"},
                        "transcription": {"model": "whisper-1"},
                    },
                    "output": {"voice": "marin", "speed": 1.2},
                },
            },
        },
        {"type": "input_audio_buffer.append", "audio": "AAA=", "event_id": "e"},
        {"type": "input_audio_buffer.commit"},
        {"type": "input_audio_buffer.clear"},
        {"type": "output_audio_buffer.clear"},
        {"type": "conversation.item.create", "item": USER_TEXT, "previous_item_id": "root"},
        {
            "type": "conversation.item.create",
            "item": {"type": "function_call_output", "call_id": "call_1", "output": "{}"},
        },
        {"type": "conversation.item.retrieve", "item_id": "item_1"},
        {"type": "conversation.item.delete", "item_id": "item_1"},
        {
            "type": "conversation.item.truncate",
            "item_id": "item_1",
            "content_index": 0,
            "audio_end_ms": 10,
        },
        {
            "type": "response.create",
            "response": {"conversation": "none", "output_modalities": ["text"], "metadata": {}},
        },
        {"type": "response.cancel", "response_id": "resp_1"},
    ],
    BETA: [
        {"type": "session.update", "session": {"modalities": ["text"], "voice": "alloy"}},
        {
            "type": "session.update",
            "session": {
                "input_audio_format": "g711_alaw",
                "turn_detection": {"type": "server_vad", "silence_duration_ms": 800},
                "input_audio_transcription": {"model": "whisper-1"},
                "tools": [TOOL],
                "tool_choice": "f",
                "temperature": 0.7,
            },
        },
        {"type": "transcription_session.update", "session": {"input_audio_format": "pcm16"}},
        {"type": "input_audio_buffer.append", "audio": "AAA="},
        {"type": "conversation.item.create", "item": USER_TEXT},
        {
            "type": "conversation.item.create",
            "item": {
                "type": "message",
                "role": "assistant",
                "content": [{"type": "text", "text": "x"}],
            },
        },
        {"type": "response.create", "response": {"modalities": ["text", "audio"]}},
        {"type": "response.cancel"},
    ],
}


@pytest.mark.parametrize(
    ("dialect", "event"), [(d, e) for d, events in VALID.items() for e in events]
)
def test_valid_events_pass(dialect: Dialect, event: dict[str, Any]) -> None:
    assert validate_client_event(event, dialect) is None


def test_every_client_event_type_has_a_valid_example() -> None:
    for dialect, events in VALID.items():
        assert set(client_models(dialect)) == {e["type"] for e in events} | (
            {
                "input_audio_buffer.commit",
                "input_audio_buffer.clear",
                "output_audio_buffer.clear",
                "conversation.item.retrieve",
                "conversation.item.delete",
                "conversation.item.truncate",
            }
            if dialect is BETA
            else set()
        )


def check(dialect: Dialect, event: dict[str, Any], code: str, param: str) -> str:
    error = validate_client_event(event, dialect)
    assert error is not None
    assert (error.type, error.code, error.param) == ("invalid_request_error", code, param)
    return error.message


def test_missing_session_type_in_ga() -> None:
    check(
        GA, {"type": "session.update", "session": {}}, "missing_required_parameter", "session.type"
    )


def test_unknown_parameters_in_each_direction() -> None:
    check(
        GA,
        {"type": "session.update", "session": {"type": "realtime", "voice": "x"}},
        "unknown_parameter",
        "session.voice",
    )
    check(
        BETA,
        {"type": "session.update", "session": {"audio": {}}},
        "unknown_parameter",
        "session.audio",
    )
    check(
        GA,
        {
            "type": "conversation.item.create",
            "item": {**USER_TEXT, "content": [{"type": "input_text", "text": "x", "lang": "en"}]},
        },
        "unknown_parameter",
        "item.content[0].lang",
    )
    check(GA, {"type": "response.cancel", "extra": 1}, "unknown_parameter", "extra")


def test_invalid_values_list_what_is_supported() -> None:
    message = check(
        GA,
        {
            "type": "conversation.item.create",
            "item": {**USER_TEXT, "content": [{"type": "text", "text": "x"}]},
        },
        "invalid_value",
        "item.content[0].type",
    )
    assert "'input_text', 'input_audio' or 'input_image'" in message
    check(
        BETA,
        {"type": "session.update", "session": {"input_audio_format": "mp3"}},
        "invalid_value",
        "session.input_audio_format",
    )


def test_wrong_json_types_are_invalid_type() -> None:
    check(
        GA,
        {
            "type": "conversation.item.truncate",
            "item_id": "i",
            "content_index": 0,
            "audio_end_ms": "10",
        },
        "invalid_type",
        "audio_end_ms",
    )
    check(GA, {"type": "conversation.item.delete", "item_id": 5}, "invalid_type", "item_id")
    check(GA, {"type": "input_audio_buffer.append", "audio": ["AA=="]}, "invalid_type", "audio")


def test_missing_fields_are_missing_required_parameter() -> None:
    check(GA, {"type": "conversation.item.retrieve"}, "missing_required_parameter", "item_id")
    check(GA, {"type": "input_audio_buffer.append"}, "missing_required_parameter", "audio")
    check(
        GA,
        {
            "type": "conversation.item.create",
            "item": {"type": "function_call_output", "output": "x"},
        },
        "missing_required_parameter",
        "item.call_id",
    )


def test_service_ranges_the_models_do_not_carry() -> None:
    check(
        BETA,
        {"type": "session.update", "session": {"temperature": 0.1}},
        "decimal_below_min_value",
        "session.temperature",
    )
    check(
        GA,
        {"type": "session.update", "session": {"type": "realtime", "max_output_tokens": 5000}},
        "integer_above_max_value",
        "session.max_output_tokens",
    )
    check(
        GA,
        {
            "type": "session.update",
            "session": {"type": "realtime", "audio": {"output": {"speed": 0.1}}},
        },
        "decimal_below_min_value",
        "session.audio.output.speed",
    )
    check(
        GA,
        {
            "type": "session.update",
            "session": {
                "type": "realtime",
                "audio": {"input": {"turn_detection": {"type": "server_vad", "threshold": 1.5}}},
            },
        },
        "decimal_above_max_value",
        "session.audio.input.turn_detection.threshold",
    )
    message = check(
        GA,
        {
            "type": "session.update",
            "session": {
                "type": "realtime",
                "audio": {"input": {"format": {"type": "audio/pcm", "rate": 16000}}},
            },
        },
        "invalid_value",
        "session.audio.input.format.rate",
    )
    assert "24000" in message


def test_unknown_and_other_dialect_types() -> None:
    message = check(GA, {"type": "session.updat"}, "invalid_value", "type")
    assert "'session.update'" in message
    check(GA, {"type": "transcription_session.update", "session": {}}, "invalid_value", "type")


@given(
    st.dictionaries(
        st.sampled_from(["audio", "event_id", "extra", "type"]),
        st.one_of(
            st.text(max_size=8), st.integers(), st.none(), st.lists(st.integers(), max_size=2)
        ),
    )
)
def test_the_append_fast_path_agrees_with_the_sdk_model(fields: dict[str, Any]) -> None:
    event = {**fields, "type": "input_audio_buffer.append"}
    model = client_models(GA)["input_audio_buffer.append"]
    try:
        adapter(model).validate_python(event, strict=True)
        model_ok = set(event) <= {"type", "event_id", "audio"}
    except Exception:
        model_ok = False
    assert (validate_client_event(event, GA) is None) is model_ok


_ODD_VALUES = st.one_of(st.none(), st.integers(), st.text(max_size=4), st.just([]), st.just({}))
_SOMETIMES = st.integers(0, 3).map(lambda n: n == 0)


@st.composite
def _item_creates(draw: st.DrawFn) -> dict[str, Any]:
    """``conversation.item.create`` events at and around the user-text fast path's shape."""
    part: dict[str, Any] = {"type": "input_text", "text": draw(st.text(max_size=6))}
    if draw(_SOMETIMES):
        part[draw(st.sampled_from(["type", "text", "extra"]))] = draw(_ODD_VALUES)
    item: dict[str, Any] = {
        "type": draw(st.sampled_from(["message", "message", "message", "function_call"])),
        "role": draw(st.sampled_from(["user", "user", "user", "assistant", "system"])),
        "content": draw(st.lists(st.just(part), max_size=3)),
    }
    if draw(_SOMETIMES):
        item[draw(st.sampled_from(["id", "status", "role", "extra"]))] = draw(_ODD_VALUES)
    event: dict[str, Any] = {"type": "conversation.item.create", "item": item}
    if draw(_SOMETIMES):
        event[draw(st.sampled_from(["event_id", "previous_item_id", "extra"]))] = draw(
            st.one_of(st.text(max_size=4), _ODD_VALUES)
        )
    return event


@given(_item_creates(), st.sampled_from([GA, BETA]))
def test_the_user_text_fast_path_agrees_with_the_sdk_models(
    event: dict[str, Any], dialect: Dialect
) -> None:
    full = validate_with_models(event, dialect)
    if is_user_text_item(event):
        assert full is None
    fast = validate_client_event(event, dialect)
    assert (fast and (fast.code, fast.param)) == (full and (full.code, full.param))


# ---- server events ---------------------------------------------------------------------------


def test_conforming_server_events_have_no_problems() -> None:
    assert server_event_problems({"type": "input_audio_buffer.cleared", "event_id": "e"}, GA) == []
    part = {"type": "text", "text": ""}
    added = {
        "type": "response.content_part.added",
        "event_id": "e",
        "response_id": "r",
        "item_id": "i",
        "output_index": 0,
        "content_index": 0,
        "part": part,
    }
    assert server_event_problems(added, GA) == []
    assert server_event_problems(added, BETA) == []


def test_server_event_problems_name_what_is_wrong() -> None:
    assert server_event_problems({"type": "input_audio_buffer.cleared"}, GA) == [
        "missing required field 'event_id'"
    ]
    assert (
        "not a server event of the ga dialect"
        in server_event_problems({"type": "response.audio.delta", "event_id": "e"}, GA)[0]
    )
    assert (
        "not a server event of the beta dialect"
        in server_event_problems({"type": "conversation.item.added", "event_id": "e"}, BETA)[0]
    )
    strict_breaker = {
        "type": "response.content_part.added",
        "event_id": "e",
        "response_id": "r",
        "item_id": "i",
        "output_index": 0,
        "content_index": 0,
        "part": {"type": "output_text", "text": ""},
    }
    problems = server_event_problems(strict_breaker, GA)
    assert problems and problems[0].startswith("part.type")


def test_the_union_member_cache_stays_bounded_whatever_keys_clients_invent(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from mock_server.protocol import model_errors

    monkeypatch.setattr(model_errors, "_CHOSEN", {})
    monkeypatch.setattr(model_errors, "_CHOSEN_MAX", 10)
    for n in range(50):
        item = {"type": "message", "role": "user", "content": [], f"invented_{n}": 1}
        error = validate_client_event(
            {"type": "conversation.item.create", "item": item}, Dialect.GA
        )
        assert error is not None and error.param == f"item.invented_{n}"
    assert len(model_errors._CHOSEN) == 10


@pytest.mark.parametrize("value", [float("nan"), float("inf"), float("-inf")])
def test_a_non_finite_number_in_a_checked_range_is_refused(value: float) -> None:
    event = {
        "type": "session.update",
        "session": {
            "type": "realtime",
            "audio": {"input": {"turn_detection": {"type": "server_vad", "threshold": value}}},
        },
    }
    error = validate_client_event(event, Dialect.GA)
    assert error is not None
    assert (error.code, error.param) == (
        "invalid_value",
        "session.audio.input.turn_detection.threshold",
    )


@pytest.mark.parametrize("digits", [17, 400, 4000])
def test_an_integer_too_large_for_a_float_is_a_range_error_not_an_overflow(digits: int) -> None:
    # Found by the fuzz suite: `{value:g}` raised OverflowError, a server_error for the client.
    huge = int("4" * digits)
    for value in (huge, -huge):
        event = {"type": "response.create", "response": {"max_output_tokens": value}}
        error = validate_client_event(event, Dialect.GA)
        assert error is not None and error.param == "response.max_output_tokens"
        assert f"({digits} digits)" in error.message
