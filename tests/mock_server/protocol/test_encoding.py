"""Each dialect's encoder: the shapes it renders and reads, and the answers it gives where the
dialects' event sequences differ. Every shape is checked against the SDK's models too."""

from __future__ import annotations

from typing import Any

import pytest

from mock_server.ids import IdFactory
from mock_server.protocol import session_config
from mock_server.protocol.encoding import Encoder, ResponseSettings, encoder_for
from mock_server.protocol.events import Dialect
from mock_server.protocol.validation import server_event_problems, validate_client_event

GA, BETA = encoder_for(Dialect.GA), encoder_for(Dialect.BETA)
ASSISTANT = {
    "id": "item_1",
    "object": "realtime.item",
    "type": "message",
    "status": "completed",
    "role": "assistant",
    "content": [{"type": "output_audio", "transcript": "hi", "audio": "AAAA"}],
}


def _config(encoder: Encoder) -> dict[str, Any]:
    return encoder.initial_config("gpt-realtime", "sess_1", 0.0, None)


def test_each_dialect_has_one_encoder_that_knows_its_dialect() -> None:
    assert (GA.dialect, BETA.dialect) == (Dialect.GA, Dialect.BETA)
    assert encoder_for(Dialect.GA) is GA


def test_the_dialects_announce_items_and_conversations_differently() -> None:
    assert (GA.item_added_event, GA.item_done_event) == (
        "conversation.item.added",
        "conversation.item.done",
    )
    assert (BETA.item_added_event, BETA.item_done_event) == ("conversation.item.created", None)
    assert (GA.announces_conversation, BETA.announces_conversation) == (False, True)
    assert (GA.names_function_in_arguments_done, BETA.names_function_in_arguments_done) == (
        True,
        False,
    )
    assert (GA.has_idle_timeout, BETA.has_idle_timeout) == (True, False)


@pytest.mark.parametrize(
    ("encoder", "name"),
    [(GA, "response.output_audio_transcript.delta"), (BETA, "response.audio_transcript.delta")],
)
def test_event_names(encoder: Encoder, name: str) -> None:
    assert encoder.event_name("response.output_audio_transcript.delta") == name
    assert encoder.event_name("response.done") == "response.done"


@pytest.mark.parametrize("encoder", [GA, BETA])
def test_the_session_object_conforms_to_the_dialects_model(encoder: Encoder) -> None:
    session = encoder.session_object(_config(encoder))
    event = {"event_id": "event_1", "type": "session.created", "session": session}
    assert server_event_problems(event, encoder.dialect) == []


def test_the_ga_session_object_is_the_neutral_form_without_temperature() -> None:
    config = _config(GA)
    session = GA.session_object(config)
    assert "temperature" not in session and session["audio"] is config["audio"]
    assert session["audio"]["output"]["voice"] == "marin"


def test_the_beta_session_object_is_flat() -> None:
    session = BETA.session_object(_config(BETA))
    assert session["modalities"] == ["text", "audio"]
    assert (session["input_audio_format"], session["voice"]) == ("pcm16", "alloy")
    assert "audio" not in session and "idle_timeout_ms" not in session["turn_detection"]


def test_a_ga_transcription_intent_starts_a_transcription_session() -> None:
    config = GA.initial_config("gpt-realtime", "sess_1", 0.0, "transcription")
    assert config["type"] == "transcription"
    assert BETA.initial_config("gpt-realtime", "sess_1", 0.0, "transcription")["type"] == (
        "realtime"
    )


def test_each_dialect_reads_its_own_session_update_into_the_neutral_form() -> None:
    ga = GA.apply_update(_config(GA), {"type": "realtime", "audio": {"output": {"voice": "ash"}}})
    beta = BETA.apply_update(_config(BETA), {"voice": "ash", "output_audio_format": "g711_ulaw"})
    assert ga["audio"]["output"]["voice"] == beta["audio"]["output"]["voice"] == "ash"
    assert beta["audio"]["output"]["format"] == {"type": "audio/pcmu"}


def test_a_ga_session_cannot_change_its_type() -> None:
    with pytest.raises(Exception, match="Cannot update a session of type 'realtime'"):
        GA.check_session_update(_config(GA), {"type": "transcription"})
    BETA.check_session_update(_config(BETA), {})  # beta has no type to change


def test_validation_follows_the_dialect() -> None:
    flat = {"type": "session.update", "session": {"modalities": ["text"]}}
    assert BETA.validate(flat) is None
    assert GA.validate(flat) is not None
    assert GA.validate(flat) == validate_client_event(flat, Dialect.GA)


@pytest.mark.parametrize(("encoder", "content_type"), [(GA, "output_audio"), (BETA, "audio")])
def test_items_lose_their_audio_and_take_the_dialects_content_types(
    encoder: Encoder, content_type: str
) -> None:
    item = encoder.item(ASSISTANT)
    assert item["content"] == [{"type": content_type, "transcript": "hi", "audio": None}]
    assert ASSISTANT["content"][0]["audio"] == "AAAA"  # the neutral item is not changed
    assert encoder.item(ASSISTANT, with_audio=True)["content"][0]["audio"] == "AAAA"
    event = {
        "event_id": "event_1",
        "type": encoder.item_added_event,
        "previous_item_id": None,
        "item": item,
    }
    assert server_event_problems(event, encoder.dialect) == []


def test_a_client_item_is_read_into_the_neutral_form() -> None:
    said = {"type": "message", "role": "assistant", "content": [{"type": "text", "text": "x"}]}
    item = BETA.item_from_client(said, IdFactory(1))
    assert item["content"][0]["type"] == "output_text" and item["status"] == "completed"
    assert said["content"][0]["type"] == "text"  # copied, not changed
    ga_said = {"type": "message", "role": "assistant", "content": [{"type": "output_text"}]}
    assert GA.item_from_client(ga_said, IdFactory(1))["content"][0]["type"] == "output_text"


def test_response_settings_come_from_the_request_or_the_session() -> None:
    ga = GA.response_settings({"output_modalities": ["text"], "max_output_tokens": 5}, _config(GA))
    assert ga == ResponseSettings(["text"], "pcm16", "marin", 5)
    beta = BETA.response_settings(
        {"modalities": ["text", "audio"], "output_audio_format": "g711_alaw"}, _config(BETA)
    )
    assert beta == ResponseSettings(["audio"], "g711_alaw", "alloy", "inf")


@pytest.mark.parametrize("encoder", [GA, BETA])
def test_the_response_object_conforms_to_the_dialects_model(encoder: Encoder) -> None:
    settings = ResponseSettings(["audio"], "g711_ulaw", "ash", "inf")
    base = {
        "id": "resp_1",
        "object": "realtime.response",
        "status": "in_progress",
        "status_details": None,
        "output": [],
        "conversation_id": "conv_1",
        "max_output_tokens": "inf",
        "metadata": None,
        "usage": None,
    }
    response = encoder.response_object(dict(base), settings, _config(encoder))
    if encoder is GA:
        assert response["audio"]["output"] == {"format": {"type": "audio/pcmu"}, "voice": "ash"}
    else:
        assert (response["modalities"], response["output_audio_format"]) == (
            ["text", "audio"],
            "g711_ulaw",
        )
    event = {"event_id": "event_1", "type": "response.created", "response": response}
    assert server_event_problems(event, encoder.dialect) == []


def test_usage_details_follow_the_dialect() -> None:
    assert "cached_tokens_details" in GA.input_token_details({"text_tokens": 1})
    assert BETA.input_token_details({"text_tokens": 1}) == {"text_tokens": 1}


def test_the_neutral_update_is_the_ga_one() -> None:
    config = _config(GA)
    update = {"type": "realtime", "instructions": "be brief"}
    assert GA.apply_update(config, update) == session_config.apply_update(config, update)
