"""The official openai-agents SDK's realtime session against the mock, as a voice agent runs it.

``RealtimeRunner(agent).run(model_config={"url": ..., "api_key": ...})`` points the agents SDK's
own WebSocket transport at the mock. It streams a speech fixture with server VAD on; the VAD's
offsets must bound the turn the mock committed, as the SDK documents them (audio_start_ms
includes the prefix padding, audio_end_ms the silence), and the canned model answers in audio.
"""

from __future__ import annotations

import asyncio
import base64
from pathlib import Path
from typing import Any

import pytest
from agents.realtime import RealtimeAgent, RealtimeRunner
from agents.realtime.model_inputs import RealtimeModelSendRawMessage

from mock_server import audio
from tests.helpers import WAIT, serving

FIXTURES = Path(__file__).resolve().parents[2] / "fixtures" / "audio"
PADDING_MS, SILENCE_MS = 200, 400
QUESTION_SPEECH_MS = (300, 1700)  # fixtures/audio/manifest.yaml


async def _run_turn(
    server_url: str, turn_detection: dict[str, Any] | None
) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    """Stream the question fixture through the agents SDK; the raw server events up to the
    reply's ``response.done``, and the committed user item as ``conversation.item.retrieve``
    returns it."""
    agent = RealtimeAgent(name="assistant", instructions="Answer briefly.")
    runner = RealtimeRunner(agent)
    session = await runner.run(
        model_config={
            "url": server_url,
            "api_key": "sk-test",
            # No turn_detection: the agents SDK's default, semantic_vad.
            "initial_model_settings": {"model_name": "gpt-realtime"}
            | ({"turn_detection": turn_detection} if turn_detection else {}),
        }
    )
    raw: list[dict[str, Any]] = []
    retrieved: dict[str, Any] = {}
    async with session:
        question = audio.load_wav(FIXTURES / "question.wav").tobytes() + bytes(48 * 800)
        for piece in audio.chunk(question, 40):
            await session.send_audio(piece)

        async def read() -> None:
            async for event in session:
                if event.type != "raw_model_event" or event.data.type != "raw_server_event":
                    continue
                data = event.data.data
                raw.append(data)
                if data["type"] == "response.done":
                    stopped = next(
                        e for e in raw if e["type"] == "input_audio_buffer.speech_stopped"
                    )
                    await session.model.send_event(
                        RealtimeModelSendRawMessage(
                            message={
                                "type": "conversation.item.retrieve",
                                "other_data": {"item_id": stopped["item_id"]},
                            }
                        )
                    )
                if data["type"] == "conversation.item.retrieved":
                    retrieved.update(data["item"])
                    return

        await asyncio.wait_for(read(), WAIT)
    return raw, retrieved


SERVER_VAD = {
    "type": "server_vad",
    "prefix_padding_ms": PADDING_MS,
    "silence_duration_ms": SILENCE_MS,
}


@pytest.mark.parametrize(
    ("turn_detection", "padding_ms", "silence_ms"),
    [
        (SERVER_VAD, PADDING_MS, SILENCE_MS),
        # The SDK's default semantic_vad (eagerness auto): the mock's 300 ms of padding, 500 ms.
        (None, 300, 500),
    ],
    ids=["server_vad", "semantic_vad"],
)
async def test_agents_sdk_vad_offsets_match_the_committed_audio(
    turn_detection: dict[str, Any] | None, padding_ms: int, silence_ms: int
) -> None:
    async with serving() as server:
        raw, item = await _run_turn(server.ws_url + "?model=gpt-realtime", turn_detection)
    names = [e["type"] for e in raw]
    started = next(e for e in raw if e["type"] == "input_audio_buffer.speech_started")
    stopped = next(e for e in raw if e["type"] == "input_audio_buffer.speech_stopped")
    assert (
        names.index("input_audio_buffer.speech_started")
        < names.index("input_audio_buffer.speech_stopped")
        < names.index("input_audio_buffer.committed")
        < names.index("response.created")
    )
    assert started["item_id"] == stopped["item_id"] == item["id"]
    # The documented offsets: the speech widened by the prefix padding and the silence.
    speech_start, speech_end = QUESTION_SPEECH_MS
    assert abs(started["audio_start_ms"] - max(0, speech_start - padding_ms)) <= 10
    assert abs(stopped["audio_end_ms"] - (speech_end + silence_ms)) <= 10
    # The committed audio is exactly that span (PCM16 24 kHz: 48 bytes a millisecond).
    committed = base64.b64decode(item["content"][0]["audio"])
    assert len(committed) == (stopped["audio_end_ms"] - started["audio_start_ms"]) * 48
    # And the agent answered the turn in audio.
    assert any(e["type"] == "response.output_audio.delta" for e in raw)
