"""The official openai Python SDK streaming speech with input transcription on: word-by-word
deltas with logprobs, token usage, and a diarising model's segments with a scenario's speakers,
all parsed into the SDK's own event types."""

from __future__ import annotations

from openai.types.realtime import (
    ConversationItemInputAudioTranscriptionCompletedEvent,
    ConversationItemInputAudioTranscriptionDeltaEvent,
    ConversationItemInputAudioTranscriptionSegment,
)

from mock_server.scenario.loader import load_scenario_text
from mock_server.scenario.served import ServedScenario
from tests.acceptance.test_openai_sdk_audio import stream_question
from tests.helpers import serving


async def test_gpt_4o_transcribe_streams_words_with_logprobs_and_bills_tokens() -> None:
    text = """
name: transcribe-logprobs
description: word-by-word input transcription with logprobs
session:
  include: [item.input_audio_transcription.logprobs]
  audio: {input: {transcription: {model: gpt-4o-transcribe}}}
"""
    play = ServedScenario(load_scenario_text(text, "transcribe-logprobs.yaml"))
    async with serving(play.mount()) as server:
        events = await stream_question(server, turns=1)
    deltas = [e for e in events if isinstance(e, ConversationItemInputAudioTranscriptionDeltaEvent)]
    completed = next(
        e for e in events if isinstance(e, ConversationItemInputAudioTranscriptionCompletedEvent)
    )
    assert completed.transcript == "What's the weather in Paris?"
    assert [d.delta for d in deltas] == ["What's", " the", " weather", " in", " Paris?"]
    assert all(d.logprobs and d.logprobs[0].token == d.delta for d in deltas)
    assert completed.logprobs is not None and len(completed.logprobs) == 5
    assert completed.usage.type == "tokens" and completed.usage.output_tokens == 5


async def test_a_diarising_model_reports_the_scenarios_speakers_as_segments() -> None:
    text = """
name: diarize
description: a diarised transcription with two speakers
session: {audio: {input: {transcription: {model: gpt-4o-transcribe-diarize}}}}
transcriptions:
  - segments:
      - {speaker: A, text: "What's the weather"}
      - {speaker: B, text: "in Paris?"}
"""
    play = ServedScenario(load_scenario_text(text, "diarize.yaml"))
    async with serving(play.mount()) as server:
        events = await stream_question(server, turns=1)
    segments = [e for e in events if isinstance(e, ConversationItemInputAudioTranscriptionSegment)]
    assert [(s.speaker, s.text) for s in segments] == [
        ("A", "What's the weather"),
        ("B", "in Paris?"),
    ]
    assert segments[0].start == 0 and segments[0].end == segments[1].start < segments[1].end
    completed = next(
        e for e in events if isinstance(e, ConversationItemInputAudioTranscriptionCompletedEvent)
    )
    assert completed.transcript == "What's the weather in Paris?"
    assert play.verdict().ok, str(play.verdict())
