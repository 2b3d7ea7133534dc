"""The handshake's ``intent=`` and ``idle_timeout_ms``, refused as the live service does."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed

from mock_server.protocol.events import Dialect
from mock_server.server import Mount
from mock_server.session.outputs import Close
from tests.helpers import KEY, WAIT, SessionDriver, serving, types


@pytest.mark.parametrize("intent", ["", "conversation", "Transcription"])
def test_an_unknown_or_empty_intent_is_invalid_intent_then_close_4000(intent: str) -> None:
    d = SessionDriver(intent=intent)
    opening = d.opening
    assert types(opening) == ["error"]
    assert opening[0]["error"] == {
        "type": "invalid_request_error",
        "code": "invalid_intent",
        "message": f"Invalid intent {intent}",
        "param": None,
        "event_id": None,
    }
    closed = d.session.closed
    assert isinstance(closed, Close)
    assert (closed.code, closed.reason) == (4000, "invalid_request_error.invalid_intent")


def test_the_transcription_intent_starts_a_session() -> None:
    assert types(SessionDriver(intent="transcription").opening)[0] == "session.created"


async def test_an_empty_intent_on_the_wire_gets_the_error_and_close_4000() -> None:
    async with serving(Mount()) as server:
        url = server.ws_url + "?model=gpt-realtime&intent="
        async with connect(url, additional_headers=KEY, open_timeout=WAIT) as ws:
            first: Any = await asyncio.wait_for(ws.recv(), WAIT)
            assert '"invalid_intent"' in first and '"Invalid intent "' in first
            with pytest.raises(ConnectionClosed) as closed:
                await asyncio.wait_for(ws.recv(), WAIT)
            assert closed.value.rcvd is not None
            assert (closed.value.rcvd.code, closed.value.rcvd.reason) == (
                4000,
                "invalid_request_error.invalid_intent",
            )


@pytest.mark.parametrize("value", [0, 4999, 30001])
def test_idle_timeout_outside_the_range_is_invalid_value(value: int) -> None:
    d = SessionDriver()
    events = d.session_update(
        audio={"input": {"turn_detection": {"type": "server_vad", "idle_timeout_ms": value}}}
    )
    assert types(events) == ["error"]
    error = events[0]["error"]
    param = "session.audio.input.turn_detection.idle_timeout_ms"
    assert (error["code"], error["param"]) == ("invalid_value", param)
    assert "between 5000 and 30000" in error["message"] and str(value) in error["message"]
    turn = d.session.config["audio"]["input"]["turn_detection"]
    assert turn.get("idle_timeout_ms") is None  # nothing kept


@pytest.mark.parametrize("value", [5000, 30000])
def test_idle_timeout_inside_the_range_is_taken(value: int) -> None:
    d = SessionDriver(dialect=Dialect.GA)
    events = d.session_update(
        audio={"input": {"turn_detection": {"type": "server_vad", "idle_timeout_ms": value}}}
    )
    assert types(events) == ["session.updated"]
    assert events[0]["session"]["audio"]["input"]["turn_detection"]["idle_timeout_ms"] == value
