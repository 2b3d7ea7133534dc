"""WebRTC calls: an aiortc client (a peer with a microphone track and the ``oai-events`` data
channel, its offer POSTed to /v1/realtime/calls) against the mock: HTTP and WebSocket on
127.0.0.1, ICE on the machine's own addresses with no STUN server (docs/webrtc.md).

The microphone plays fixture speech in real time and the reply's audio plays in real time on
the server's track, so these tests take seconds; every wait is bounded (``WAIT``)."""

from __future__ import annotations

import asyncio
import json
import urllib.error
import urllib.request
from typing import Any

import pytest
from websockets.asyncio.client import connect
from websockets.exceptions import InvalidStatus

pytest.importorskip("aiortc")  # the webrtc extra (the test extra includes it)

from harness.client.errors import CallRefused
from harness.client.webrtc import WebRtcCall
from harness.mock import mint_ephemeral_key
from mock_server import audio, resources
from mock_server.scenario.loader import load_scenario, load_scenario_text, resolve_scenario
from mock_server.scenario.served import ServedScenario
from mock_server.server import MockServer, Mount
from tests.helpers import KEY, WAIT, serving, until, user_text

QUESTION = audio.load_wav(resources.AUDIO / "question.wav").tobytes()
SILENCE_1S = bytes(48 * 1000)


def calls_url(server: MockServer, prefix: str = "", query: str = "") -> str:
    return server.url_for(prefix, scheme="http", path="/v1/realtime/calls") + query


async def post(
    url: str, body: bytes, headers: dict[str, str], method: str = "POST"
) -> tuple[int, Any]:
    """A plain request, off the loop the server runs on."""
    return await asyncio.to_thread(_post, url, body, headers, method)


def _post(url: str, body: bytes, headers: dict[str, str], method: str) -> tuple[int, Any]:
    request = urllib.request.Request(url, data=body, headers=headers, method=method)
    try:
        with urllib.request.urlopen(request, timeout=WAIT) as response:
            return response.status, response.read()
    except urllib.error.HTTPError as refused:
        return refused.code, json.loads(refused.read())


async def text_turn(call: WebRtcCall, text: str = "Hello") -> dict[str, Any]:
    call.send(user_text(text))
    call.send({"type": "response.create"})
    return await call.recv_until("response.done")


async def test_a_text_turn_plays_its_audio_on_the_track_not_the_channel() -> None:
    async with serving() as server, WebRtcCall(calls_url(server), "sk-test") as call:
        assert call.location is not None and call.location.startswith("/v1/realtime/calls/rtc_")
        assert (await call.recv())["type"] == "session.created"
        call.send(user_text("Hello"))
        call.send({"type": "response.create"})
        seen: list[dict[str, Any]] = []
        while not seen or seen[-1]["type"] != "output_audio_buffer.stopped":
            seen.append(await call.recv())
        kinds = [e["type"] for e in seen]
        response_id = next(e for e in seen if e["type"] == "response.done")["response"]["id"]
        # The audio went to the track: no delta on the channel; the buffer events bracket it.
        assert "response.output_audio.delta" not in kinds
        assert "response.output_audio_transcript.done" in kinds
        started = kinds.index("output_audio_buffer.started")
        assert kinds.index("response.content_part.added") < started
        assert seen[started]["response_id"] == seen[-1]["response_id"] == response_id
        await until(lambda: call.heard_loud_frames > 10, "the reply's audio on the remote track")
        conn = server.connections[0]
        assert conn.session is not None and conn.session.findings == []


async def test_audio_on_the_track_drives_server_vad_and_transcription() -> None:
    async with serving() as server, WebRtcCall(calls_url(server), "sk-test") as call:
        await call.recv_until("session.created")
        transcription = {"model": "gpt-4o-transcribe"}
        session = {"type": "realtime", "audio": {"input": {"transcription": transcription}}}
        call.send({"type": "session.update", "session": session})
        await call.recv_until("session.updated")
        call.say(QUESTION + SILENCE_1S)
        started = await call.recv_until("input_audio_buffer.speech_started")
        stopped = await call.recv_until("input_audio_buffer.speech_stopped")
        # The fixture's speech is at 300-1700 ms; the offsets include the prefix padding
        # (300 ms) and the silence (500 ms) as documented; Opus and the track's start move
        # them a little.
        assert 0 <= started["audio_start_ms"] <= 400
        assert 2000 <= stopped["audio_end_ms"] <= 2800
        done = await call.recv_until("conversation.item.input_audio_transcription.completed")
        assert done["transcript"] == "What's the weather in Paris?"  # fingerprinted, as appended
        assert (await call.recv_until("response.done"))["response"]["status"] == "completed"
        transcript = server.connections[0].transcript
        # The track's audio is noted, never recorded as client events it was not.
        assert not list(transcript.client_events("input_audio_buffer.append"))
        notes = [e.note for e in transcript.entries if e.direction == "note"]
        assert any(n and "audio track" in n for n in notes)


async def test_a_function_call_over_the_data_channel() -> None:
    served = ServedScenario(load_scenario(resolve_scenario("function_call")))
    async with serving(served.mount()) as server, WebRtcCall(calls_url(server), "sk-t") as call:
        await call.recv_until("session.created")
        done = await text_turn(call, "What's the weather in Paris?")
        (item,) = done["response"]["output"]
        assert (item["type"], item["call_id"]) == ("function_call", "call_weather_1")
        output = {"type": "function_call_output", "call_id": item["call_id"], "output": "sunny"}
        call.send({"type": "conversation.item.create", "item": output})
        call.send({"type": "response.create"})
        text = await call.recv_until("response.output_text.done")
        assert text["text"] == "It is sunny in Paris."
    await server.wait_for_sessions(at_most=0, timeout=WAIT)
    assert served.verdict().ok, str(served.verdict())


async def test_output_audio_buffer_clear_cuts_the_playing_reply() -> None:
    async with serving() as server, WebRtcCall(calls_url(server), "sk-test") as call:
        await call.recv_until("session.created")
        await text_turn(call)
        started = await call.recv_until("output_audio_buffer.started")
        call.send({"type": "output_audio_buffer.clear"})
        cleared = await call.recv_until("output_audio_buffer.cleared")
        assert cleared["response_id"] == started["response_id"]
        # The reply's item keeps what was played: truncated by the server, as live.
        truncated = await call.recv_until("conversation.item.truncated")
        session = server.connections[0].session
        assert session is not None
        held_ms = len(session.item_audio(truncated["item_id"])) / 48
        assert truncated["audio_end_ms"] == pytest.approx(held_ms, abs=1)
        assert truncated["audio_end_ms"] < 1000  # the reply's whole audio is over a second
        # Cut: the next turn's audio starts playing without the first ever finishing.
        await text_turn(call)
        kinds = []
        while not kinds or kinds[-1] != "output_audio_buffer.started":
            kinds.append((await call.recv())["type"])
        assert "output_audio_buffer.stopped" not in kinds
        assert server.connections[0].session is not None


async def test_speech_over_the_reply_clears_it_as_live() -> None:
    async with serving() as server, WebRtcCall(calls_url(server), "sk-test") as call:
        await call.recv_until("session.created")
        await text_turn(call, "Tell me a long story")
        started = await call.recv_until("output_audio_buffer.started")
        call.say(QUESTION)
        await call.recv_until("input_audio_buffer.speech_started")
        cleared = await call.recv_until("output_audio_buffer.cleared")
        assert cleared["response_id"] == started["response_id"]
        truncated = await call.recv_until("conversation.item.truncated")
        assert truncated["content_index"] == 0 and truncated["audio_end_ms"] > 0


async def test_a_sideband_controls_the_calls_session() -> None:
    async with serving() as server, WebRtcCall(calls_url(server), "sk-test") as call:
        created = await call.recv_until("session.created")
        url = f"{server.ws_url}?call_id={call.call_id}"
        async with connect(url, additional_headers=KEY, open_timeout=WAIT) as sideband:
            update = {"type": "realtime", "instructions": "Speak like a pirate."}
            await sideband.send(json.dumps({"type": "session.update", "session": update}))
            updated = json.loads(await sideband.recv())
            assert updated["type"] == "session.updated"
            assert updated["session"]["id"] == created["session"]["id"]  # the same session
            on_channel = await call.recv_until("session.updated")
            assert on_channel["session"]["instructions"] == "Speak like a pirate."
            # The browser's turn: the sideband sees its events too.
            call.send(user_text("Ahoy"))
            call.send({"type": "response.create"})
            while json.loads(await sideband.recv())["type"] != "response.done":
                pass
        sessions = {id(c.session) for c in server.connections}
        assert len(sessions) == 1  # the sideband opened no session of its own
    # Once the call has ended, its id is no one's.
    async with serving() as server:
        with pytest.raises(InvalidStatus) as refused:
            async with connect(f"{server.ws_url}?call_id={call.call_id}", additional_headers=KEY):
                pass
        assert refused.value.response.status_code == 404


async def test_the_backends_form_configures_the_session() -> None:
    session = {"type": "realtime", "instructions": "From the backend."}
    async with (
        serving() as server,
        WebRtcCall(calls_url(server), "sk-backend", form_session=session) as call,
    ):
        created = await call.recv_until("session.created")
        assert created["session"]["instructions"] == "From the backend."


async def test_the_beta_era_post_to_v1_realtime() -> None:
    async with serving() as server:
        url = server.url_for(scheme="http", path="/v1/realtime?model=gpt-realtime")
        key = await asyncio.to_thread(mint_ephemeral_key, server.base_url, "sk-test")
        async with WebRtcCall(url, key) as call:
            created = await call.recv_until("session.created")
            assert created["session"]["model"] == "gpt-realtime"
            assert call.call_id is not None and call.call_id.startswith("rtc_")


async def test_refusals_in_the_openai_shape() -> None:
    async with serving(Mount(pace=0.0, api_keys=["sk-good"])) as server:
        url = calls_url(server)
        with pytest.raises(CallRefused) as refused:
            await WebRtcCall(url, "").connect()
        assert refused.value.status == 401
        with pytest.raises(CallRefused) as refused:
            await WebRtcCall(url, "sk-bad").connect()
        assert refused.value.body["error"]["code"] == "invalid_api_key"
        auth = {"Authorization": "Bearer sk-good"}
        status, body = await post(url, b"not sdp", {**auth, "Content-Type": "application/sdp"})
        assert (status, body["error"]["param"]) == (400, "sdp")
        status, body = await post(url, b"v=0\r\n", {**auth, "Content-Type": "text/plain"})
        assert status == 400 and "application/sdp" in body["error"]["message"]
        status, body = await post(url, b"", auth, method="GET")
        assert status == 405
        form = {**auth, "Content-Type": "multipart/form-data; boundary=b"}
        status, body = await post(url, b"--b--\r\n", form)
        assert (status, body["error"]["param"]) == (400, "sdp")
        assert not server.calls and not server.connections


async def test_a_browser_calls_with_the_ephemeral_key_its_backend_minted() -> None:
    async with serving(Mount(pace=0.0, api_keys=["sk-good"])) as server:
        base = server.url_for(scheme="http")
        key = await asyncio.to_thread(mint_ephemeral_key, base, "sk-good", "none")
        assert key.startswith("ek_")
        async with WebRtcCall(calls_url(server), key) as call:
            assert (await call.recv_until("session.created"))["type"] == "session.created"
        # A key this server never issued is refused as live (401), before any peer is made.
        with pytest.raises(CallRefused) as refused:
            await WebRtcCall(calls_url(server), "ek_" + "0" * 24).connect()
        assert refused.value.status == 401


async def test_the_scenarios_handshake_refuses_offers_as_it_refuses_websockets() -> None:
    text = """
name: refused_then_ok
description: A 429, then a call.
session:
  output_modalities: [text]
connections:
  - {status: 429, retry_after: 0, code: rate_limit_exceeded}
  - steps:
      - expect: response.create
      - respond: {text: "Hi"}
"""
    served = ServedScenario(load_scenario_text(text))
    async with serving(served.mount()) as server:
        with pytest.raises(CallRefused) as refused:
            await WebRtcCall(calls_url(server), "sk-test").connect()
        assert refused.value.status == 429
        async with WebRtcCall(calls_url(server), "sk-test") as call:
            await call.recv_until("session.created")
            call.send({"type": "response.create"})
            assert (await call.recv_until("response.output_text.done"))["text"] == "Hi"


async def test_stopping_the_server_ends_its_calls() -> None:
    async with serving() as server:
        call = WebRtcCall(calls_url(server), "sk-test")
        await call.connect()
        await call.recv_until("session.created")
        assert len(server.calls) == 1
    assert not server.calls
    assert server.connections[0].ended
    await call.close()


async def test_a_pages_preflight_and_the_answer_allow_any_origin() -> None:
    async with serving() as server:
        status, _ = await post(calls_url(server), b"", {"Origin": "http://app"}, method="OPTIONS")
        assert status == 204
        request = urllib.request.Request(calls_url(server), method="OPTIONS")
        response = await asyncio.to_thread(urllib.request.urlopen, request, timeout=WAIT)
        assert response.headers["Access-Control-Allow-Origin"] == "*"
        assert "Authorization" in response.headers["Access-Control-Allow-Headers"]
        async with WebRtcCall(calls_url(server), "sk-test") as call:
            assert call.location is not None  # Location is exposed to the page's script too


async def test_a_call_whose_client_never_connects_ends(monkeypatch: pytest.MonkeyPatch) -> None:
    from aiortc import RTCConfiguration, RTCPeerConnection

    from mock_server.webrtc import call as call_module

    monkeypatch.setattr(call_module, "CONNECT_S", 0.3)
    async with serving() as server:
        pc = RTCPeerConnection(RTCConfiguration(iceServers=[]))
        pc.createDataChannel("oai-events")
        await pc.setLocalDescription(await pc.createOffer())
        headers = {"Authorization": "Bearer sk-test", "Content-Type": "application/sdp"}
        status, _ = await post(calls_url(server), pc.localDescription.sdp.encode(), headers)
        assert status == 201  # and the client never takes the answer
        await until(lambda: bool(server.connections) and server.connections[0].ended, "the end")
        assert server.connections[0].transcript.closed == (1006, "no data channel within 0 s")
        assert not server.calls
        await pc.close()
