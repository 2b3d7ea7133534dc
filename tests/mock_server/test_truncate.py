"""Truncation as the live service answers it (issue 16): no audio yet, past the end, mid-stream."""

from __future__ import annotations

import base64
from typing import Any

import pytest

from mock_server.protocol.events import Dialect
from tests.helpers import SessionDriver, types, user_text

NO_AUDIO = "Only model output audio messages can be truncated"


def truncate(item_id: str, end_ms: int) -> dict[str, Any]:
    return {
        "type": "conversation.item.truncate",
        "item_id": item_id,
        "content_index": 0,
        "audio_end_ms": end_ms,
    }


def error_of(events: list[dict[str, Any]]) -> dict[str, Any]:
    assert types(events) == ["error"], types(events)
    error: dict[str, Any] = events[0]["error"]
    return error


@pytest.mark.parametrize("dialect", [Dialect.GA, Dialect.BETA])
def test_truncating_a_reply_before_its_first_audio_frame_is_unsupported_content_type(
    dialect: Dialect,
) -> None:
    # The window livekit/agents#6157 hit: the item and its audio part are announced, no audio
    # was sent yet, and the user barges in.
    d = SessionDriver(dialect=dialect)
    item = {
        "id": "item_reply",
        "object": "realtime.item",
        "type": "message",
        "status": "in_progress",
        "role": "assistant",
        "content": [{"type": "output_audio", "transcript": ""}],
    }
    d.session.conversation.open_model_item(item)
    d.take()
    error = error_of(d.send({**truncate("item_reply", 0), "event_id": "evt_t"}))
    assert error == {
        "type": "invalid_request_error",
        "code": "unsupported_content_type",
        "message": NO_AUDIO,
        "param": None,
        "event_id": "evt_t",
    }


def test_truncating_a_text_reply_is_unsupported_content_type() -> None:
    d = SessionDriver()
    d.session_update(output_modalities=["text"])
    d.send(user_text("hello"))
    events = d.send({"type": "response.create"})
    item_id = next(e["item"]["id"] for e in events if e["type"] == "response.output_item.done")
    error = error_of(d.send(truncate(item_id, 0)))
    assert (error["code"], error["message"]) == ("unsupported_content_type", NO_AUDIO)


def test_truncating_past_the_audio_sent_names_both_lengths() -> None:
    d = SessionDriver(pace=1.0)
    d.send(user_text(" ".join(["word"] * 60)))
    events = d.send({"type": "response.create"})  # only the first 100 ms chunk is out
    item_id = next(e["item"]["id"] for e in events if e["type"] == "response.output_item.added")
    sent = [e for e in events if e["type"] == "response.output_audio.delta"]
    sent_ms = sum(len(base64.b64decode(e["delta"])) for e in sent) // 48
    assert sent_ms == 100
    # The client clamped to wall-clock time, not to what it received (openai-agents #4122).
    error = error_of(d.send(truncate(item_id, 2500)))
    assert error["message"] == "Audio content of 100ms is already shorter than 2500ms"
    assert (error["code"], error["param"]) == (None, None)
    # Clamped right, it is cut, and the stream stops there.
    cut = d.send(truncate(item_id, 80))
    assert types(cut)[0] == "conversation.item.truncated"
    assert types(cut)[-1] == "response.done"


def test_after_a_mid_stream_truncate_the_conversation_goes_on() -> None:
    # Reported: a truncated item's transcript is None, and the next delta (or the next
    # response reading the conversation) raised TypeError.
    d = SessionDriver(pace=1.0)
    d.send(user_text(" ".join(["word"] * 60)))
    events = d.send({"type": "response.create"})
    item_id = next(e["item"]["id"] for e in events if e["type"] == "response.output_item.added")
    assert "error" not in types(d.send(truncate(item_id, 50)))
    assert d.advance(5.0) == []
    d.send(user_text("and now?"))
    again = d.send({"type": "response.create"}) + d.advance(60.0)
    assert "error" not in types(again)
    done = next(e for e in again if e["type"] == "response.done")
    assert done["response"]["status"] == "completed"
    retrieved = d.send({"type": "conversation.item.retrieve", "item_id": item_id})
    assert retrieved[0]["item"]["content"][0]["transcript"] is None
