"""A real browser over WebRTC: Debian's Chromium, headless, driven by Playwright, with a fake
microphone playing a fixture WAV, runs examples/webrtc/index.html (its own RTCPeerConnection,
the documented flow) against the mock.

It asserts: server VAD turns detected on the browser's audio; the reply's audio arriving on the
page's remote track (its energy, from the page's own WebRTC statistics); a function call done
over the data channel; barge-in with ``output_audio_buffer.clear``; a scenario verdict that is
ok. Where Chromium or Playwright is missing the test skips, except in CI (``CI`` set), where
``.ci/run`` installs Chromium: there a missing browser fails.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import pytest
from websockets.datastructures import Headers
from websockets.http11 import Response

from harness.mock import mint_ephemeral_key
from mock_server import resources
from mock_server.protocol.http import HttpRequest
from mock_server.scenario.loader import load_scenario_text
from mock_server.scenario.served import ServedScenario
from mock_server.server.threaded import ThreadedMockServer
from tests.helpers import CHROMIUM, WAIT, playwright_or_skip

PAGE = Path(__file__).resolve().parents[2] / "examples" / "webrtc" / "index.html"
SCENARIO = """
name: browser_call
description: A browser's call over WebRTC, a spoken turn, a function call, then barge-in.
tags: [audio, vad, tools]
steps:
  - expect: {type: input_audio_buffer.append, within: 30s}
  - expect: {type: session.update, within: 30s}
  - expect: conversation.item.create
  - expect: response.create
  - respond:
      function_call: {name: get_weather, arguments: {city: Paris}, call_id: call_browser_1}
  - expect:
      type: conversation.item.create
      item: {type: function_call_output, call_id: call_browser_1}
  - expect: response.create
  - respond:
      audio: fixture:audio/answer.wav
      transcript: "It is sunny in Paris, twenty two degrees."
  - expect: {type: output_audio_buffer.clear, within: 30s}
"""
TOOL = {
    "type": "function",
    "name": "get_weather",
    "parameters": {"type": "object", "properties": {"city": {"type": "string"}}},
}


async def _page(request: HttpRequest) -> Response:
    body = PAGE.read_bytes()
    headers = Headers(
        [("Content-Type", "text/html; charset=utf-8"), ("Content-Length", str(len(body)))]
    )
    return Response(200, "OK", headers, body)


def _wait_for_event(page: Any, type_: str, after: int = 0) -> dict[str, Any]:
    """The first event of ``type_`` the page received (from index ``after``), within WAIT*3."""
    found = page.wait_for_function(
        "([t, after]) => rtc.events.slice(after).find((e) => e.type === t) || null",
        arg=[type_, after],
        timeout=WAIT * 3000,
    )
    event: dict[str, Any] = found.json_value()
    return event


def test_a_browser_call_over_webrtc() -> None:
    pytest.importorskip("aiortc")
    sync_playwright = playwright_or_skip()
    served = ServedScenario(load_scenario_text(SCENARIO))
    threaded = ThreadedMockServer(port=0, default_mount=served.mount())
    server = threaded.start()
    server.http_routes.add("/webrtc-page", _page)
    try:
        with sync_playwright() as driver:
            browser = driver.chromium.launch(
                executable_path=CHROMIUM,
                args=[
                    "--no-sandbox",
                    "--autoplay-policy=no-user-gesture-required",
                    "--use-fake-ui-for-media-stream",
                    "--use-fake-device-for-media-stream",
                    f"--use-file-for-fake-audio-capture={resources.AUDIO / 'question.wav'}",
                    # Host candidates as addresses, not mDNS names aiortc cannot resolve.
                    "--disable-features=WebRtcHideLocalIpsWithMdns",
                ],
            )
            try:
                _call(browser.new_page(), server.url_for(scheme="http", path=""))
            finally:
                browser.close()
        deadline = time.monotonic() + WAIT
        while any(not c.ended for c in server.connections) and time.monotonic() < deadline:
            time.sleep(0.05)
    finally:
        threaded.stop()
    verdict = served.verdict()
    assert verdict.ok, str(verdict)


def _call(page: Any, origin: str) -> None:
    errors: list[str] = []
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.goto(f"{origin}/webrtc-page")
    key = mint_ephemeral_key(f"{origin}/v1", "sk-test")  # the backend's part
    location = page.evaluate(
        "([url, key]) => rtc.start(url, key)", [f"{origin}/v1/realtime/calls", key]
    )
    assert location.startswith("/v1/realtime/calls/rtc_")
    # The fake microphone's speech: server VAD finds the turn in the browser's Opus audio, and
    # the mock's spoken answer plays on the page's remote track.
    _wait_for_event(page, "input_audio_buffer.speech_started")
    _wait_for_event(page, "input_audio_buffer.speech_stopped")
    _wait_for_event(page, "output_audio_buffer.started")
    deadline = time.monotonic() + WAIT
    level = page.evaluate("rtc.level()")
    while level["energy"] <= 0 and time.monotonic() < deadline:
        page.wait_for_timeout(100)
        level = page.evaluate("rtc.level()")
    assert level["energy"] > 0 and level["samples"] > 0, level
    # A function call over the data channel (VAD off, so the looping microphone stays quiet).
    seen = len(page.evaluate("rtc.events"))
    session = {"type": "realtime", "tools": [TOOL], "audio": {"input": {"turn_detection": None}}}
    page.evaluate("(s) => rtc.send({type: 'session.update', session: s})", session)
    _wait_for_event(page, "session.updated", seen)
    page.evaluate(
        """() => {
            rtc.send({type: "conversation.item.create", item: {type: "message", role: "user",
                      content: [{type: "input_text", text: "What's the weather in Paris?"}]}});
            rtc.send({type: "response.create"});
        }"""
    )
    call = _wait_for_event(page, "response.function_call_arguments.done", seen)
    assert call["call_id"] == "call_browser_1"
    seen = len(page.evaluate("rtc.events"))
    page.evaluate(
        """(callId) => {
            rtc.send({type: "conversation.item.create", item: {type: "function_call_output",
                      call_id: callId, output: JSON.stringify({sky: "sunny"})}});
            rtc.send({type: "response.create"});
        }""",
        call["call_id"],
    )
    # Barge-in: the answer starts playing, the page cuts it.
    started = _wait_for_event(page, "output_audio_buffer.started", seen)
    page.evaluate("rtc.send({type: 'output_audio_buffer.clear'})")
    cleared = _wait_for_event(page, "output_audio_buffer.cleared", seen)
    assert cleared["response_id"] == started["response_id"]
    assert errors == []
    page.evaluate("rtc.pc.close()")
