"""The official SDK streams a speech fixture with server VAD on, as a voice agent does."""

from __future__ import annotations

import asyncio
import base64
from pathlib import Path
from typing import Any

from openai import AsyncOpenAI

from mock_server import audio
from mock_server.responder import MessageOutput, ResponsePlan, ResponseRequest
from mock_server.server import MockServer, Mount

FIXTURES = Path(__file__).resolve().parents[2] / "fixtures" / "audio"
ANSWER = audio.load_wav(FIXTURES / "answer.wav").tobytes()


class FixtureAnswer:
    """A model that answers every turn with the answer fixture."""

    def respond(self, request: ResponseRequest) -> ResponsePlan:
        return ResponsePlan([MessageOutput("It is sunny in Paris, twenty two degrees.", ANSWER)])


async def test_sdk_streams_a_fixture_with_server_vad_and_gets_transcript_and_answer() -> None:
    mount = Mount(pace=0.0, seed="vad", responder_factory=FixtureAnswer)
    async with MockServer(port=0, default_mount=mount) as server:
        client = AsyncOpenAI(api_key="sk-test", base_url=server.base_url)
        async with client.realtime.connect(model="gpt-realtime") as conn:
            await conn.session.update(
                session={
                    "type": "realtime",
                    "audio": {
                        "input": {
                            "transcription": {"model": "gpt-4o-transcribe"},
                            "turn_detection": {"type": "server_vad", "silence_duration_ms": 500},
                        }
                    },
                }
            )
            question = audio.load_wav(FIXTURES / "question.wav").tobytes() + bytes(48 * 800)
            for piece in audio.chunk(question, 40):
                await conn.input_audio_buffer.append(audio=base64.b64encode(piece).decode())
            events: list[Any] = []
            transcript_seen = asyncio.Event()

            async def read() -> None:
                async for event in conn:
                    events.append(event)
                    if event.type.endswith("input_audio_transcription.completed"):
                        transcript_seen.set()
                    if event.type == "response.done" and transcript_seen.is_set():
                        return

            await asyncio.wait_for(read(), 10)
    names = [e.type for e in events]
    for expected in (
        "input_audio_buffer.speech_started",
        "input_audio_buffer.speech_stopped",
        "input_audio_buffer.committed",
        "response.done",
    ):
        assert expected in names
    started = next(e for e in events if e.type == "input_audio_buffer.speech_started")
    stopped = next(e for e in events if e.type == "input_audio_buffer.speech_stopped")
    assert abs(started.audio_start_ms - 300) <= 10 and abs(stopped.audio_end_ms - 1700) <= 10
    completed = next(e for e in events if e.type.endswith("input_audio_transcription.completed"))
    assert completed.transcript == "What's the weather in Paris?"
    reply = b"".join(
        base64.b64decode(e.delta) for e in events if e.type == "response.output_audio.delta"
    )
    assert reply == ANSWER
