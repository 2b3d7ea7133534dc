"""The official SDK streams a speech fixture with server VAD on, as a voice agent does."""

from __future__ import annotations

import asyncio
import base64
from pathlib import Path
from typing import Any

from openai import AsyncOpenAI

from mock_server import audio
from mock_server.scenario.loader import load_scenario, load_scenario_text, resolve_scenario
from mock_server.scenario.served import ServedScenario
from mock_server.server import MockServer
from tests.helpers import WAIT, serving

FIXTURES = Path(__file__).resolve().parents[2] / "fixtures" / "audio"
ANSWER = audio.load_wav(FIXTURES / "answer.wav").tobytes()


async def test_sdk_streams_a_fixture_with_server_vad_and_gets_transcript_and_answer() -> None:
    # The audio_vad library scenario answers with the answer fixture.
    play = ServedScenario(load_scenario(resolve_scenario("audio_vad")))
    async with serving(play.mount()) as server:
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

            await asyncio.wait_for(read(), WAIT)
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
    # The speech is at 300-1700 ms (manifest): the turn adds 300 ms of prefix padding before it
    # and the 500 ms of silence after it.
    assert abs(started.audio_start_ms - 0) <= 10 and abs(stopped.audio_end_ms - 2200) <= 10
    completed = next(e for e in events if e.type.endswith("input_audio_transcription.completed"))
    assert completed.transcript == "What's the weather in Paris?"
    reply = b"".join(
        base64.b64decode(e.delta) for e in events if e.type == "response.output_audio.delta"
    )
    assert reply == ANSWER
    assert play.verdict().ok, str(play.verdict())


async def stream_question(server: MockServer, turns: int) -> list[Any]:
    client = AsyncOpenAI(api_key="sk-test", base_url=server.base_url)
    events: list[Any] = []
    async with client.realtime.connect(model="gpt-realtime") as conn:
        question = audio.load_wav(FIXTURES / "question.wav").tobytes() + bytes(48 * 800)
        for _ in range(turns):
            for piece in audio.chunk(question, 40):
                await conn.input_audio_buffer.append(audio=base64.b64encode(piece).decode())

            async def read() -> None:
                async for event in conn:
                    events.append(event)
                    if event.type == "response.done":
                        return

            await asyncio.wait_for(read(), WAIT)
    return events


async def test_a_scenario_gives_the_transcript_or_a_failure() -> None:
    text = """
name: transcripts
description: scripted input transcription, per connection in order
session: {audio: {input: {transcription: {model: whisper-1}}}}
transcriptions:
  - text: "Quel temps fait-il à Paris ?"
  - error: {type: server_error, code: transcription_failed, message: "Audio could not be read."}
"""
    play = ServedScenario(load_scenario_text(text, "transcripts.yaml"))
    async with serving(play.mount()) as server:
        events = await stream_question(server, turns=2)
    completed = [e for e in events if e.type.endswith("transcription.completed")]
    assert [e.transcript for e in completed] == ["Quel temps fait-il à Paris ?"]
    failed = next(e for e in events if e.type.endswith("transcription.failed"))
    assert failed.error.code == "transcription_failed"
