"""Input transcription's events per model and settings (mock_server/session/transcription.py),
checked against the openai SDK's models; and the beta ``transcription_session.update``."""

from __future__ import annotations

import base64
from typing import Any

import pytest
from openai.types.realtime import (
    ConversationItemInputAudioTranscriptionCompletedEvent as Completed,
)
from openai.types.realtime import (
    ConversationItemInputAudioTranscriptionDeltaEvent as Delta,
)
from openai.types.realtime import (
    ConversationItemInputAudioTranscriptionSegment as Segment,
)

from mock_server.protocol.errors import RealtimeError
from mock_server.protocol.events import Dialect
from mock_server.session.transcription import (
    LOGPROBS_INCLUDE,
    MAX_DELTAS,
    SpeakerTurns,
    transcription_events,
    words,
)
from tests.helpers import SessionDriver, types

PREFIX = "conversation.item.input_audio_transcription."
TEXT = "What's the weather in Paris? And in Rome, please."


def _of(events: list[dict[str, Any]], kind: str) -> list[dict[str, Any]]:
    return [e for e in events if e["type"] == PREFIX + kind]


def _sdk(events: list[dict[str, Any]]) -> list[Any]:
    models = {"delta": Delta, "completed": Completed, "segment": Segment}
    return [
        models[e["type"].rsplit(".", 1)[1]].model_validate({"event_id": "event_1", **e})
        for e in events
    ]


@pytest.mark.parametrize("model", ["gpt-4o-transcribe", "gpt-4o-mini-transcribe"])
def test_gpt_4o_models_stream_word_by_word_and_bill_tokens(model: str) -> None:
    events = transcription_events("item_1", TEXT, 2.05, {"model": model, "prompt": "weather"}, None)
    sdk = _sdk(events)
    deltas = [e.delta for e in sdk if isinstance(e, Delta)]
    expected = "What's| the| weather| in| Paris?| And| in| Rome,| please."
    assert deltas == expected.split("|")
    assert "".join(deltas) == TEXT
    assert all(e.logprobs is None for e in sdk if isinstance(e, Delta))
    completed = sdk[-1]
    assert isinstance(completed, Completed) and completed.transcript == TEXT
    usage = completed.usage
    assert usage.type == "tokens"
    assert (usage.input_tokens, usage.output_tokens) == (21 + 2, 9)
    assert usage.total_tokens == usage.input_tokens + usage.output_tokens
    assert usage.input_token_details is not None
    assert (usage.input_token_details.audio_tokens, usage.input_token_details.text_tokens) == (
        21,
        2,
    )


def test_whisper_sends_the_whole_transcript_in_one_delta_and_bills_duration() -> None:
    events = transcription_events("item_1", TEXT, 2.05, {"model": "whisper-1"}, [LOGPROBS_INCLUDE])
    delta, completed = _sdk(events)
    assert delta.delta == TEXT and delta.logprobs is None
    assert completed.usage.type == "duration" and completed.usage.seconds == 2.05
    assert completed.logprobs is None  # whisper-1 gives none, include or not


def test_logprobs_come_when_include_asks_for_them() -> None:
    events = transcription_events(
        "item_1", TEXT, 1.0, {"model": "gpt-4o-transcribe"}, [LOGPROBS_INCLUDE]
    )
    sdk = _sdk(events)
    deltas = [e for e in sdk if isinstance(e, Delta)]
    for delta in deltas:
        assert delta.logprobs is not None and [p.token for p in delta.logprobs] == [delta.delta]
        assert bytes(delta.logprobs[0].bytes).decode() == delta.delta
    completed = sdk[-1]
    assert completed.logprobs is not None
    assert "".join(p.token for p in completed.logprobs) == TEXT
    assert all(p.logprob < 0 for p in completed.logprobs)


def test_a_diarising_model_sends_a_segment_per_sentence_after_its_deltas() -> None:
    events = transcription_events(
        "item_1", TEXT, 2.0, {"model": "gpt-4o-transcribe-diarize"}, [LOGPROBS_INCLUDE]
    )
    sdk = _sdk(events)
    assert [e.type.rsplit(".", 1)[1] for e in sdk] == (
        ["delta"] * 5 + ["segment"] + ["delta"] * 4 + ["segment", "completed"]
    )
    segments = [e for e in sdk if isinstance(e, Segment)]
    assert [s.text for s in segments] == ["What's the weather in Paris?", "And in Rome, please."]
    assert [s.speaker for s in segments] == ["A", "A"]
    assert segments[0].start == 0.0 and segments[-1].end == 2.0
    assert segments[0].end == segments[1].start and segments[0].id != segments[1].id
    assert all(e.logprobs is None for e in sdk if isinstance(e, Delta | Completed))


def test_the_deltas_are_bounded_and_still_join_into_the_transcript() -> None:
    text = " ".join(f"w{i}" for i in range(MAX_DELTAS * 3))
    events = transcription_events("item_1", text, 1.0, {"model": "gpt-4o-transcribe"}, None)
    deltas = [e["delta"] for e in _of(events, "delta")]
    assert len(deltas) == MAX_DELTAS and "".join(deltas) == text


def test_words_keep_every_character() -> None:
    for text in ["", "one", "  lead and trail  ", "tabs\tand\nlines"]:
        assert "".join(words(text)) == text


def test_a_failure_is_one_failed_event() -> None:
    error = RealtimeError("no speech", "transcription_failed")
    (failed,) = transcription_events("item_1", error, 1.0, {"model": "whisper-1"}, None)
    assert failed["type"] == PREFIX + "failed" and failed["error"]["message"] == "no speech"


# ---- in a session ----------------------------------------------------------------------------


def _commit(d: SessionDriver, ms: int = 400) -> list[dict[str, Any]]:
    audio = base64.b64encode(bytes(ms * 48)).decode()
    d.send({"type": "input_audio_buffer.append", "audio": audio})
    return d.send({"type": "input_audio_buffer.commit"})


def test_a_ga_session_streams_its_transcription_with_logprobs() -> None:
    d = SessionDriver()
    d.session_update(
        output_modalities=["text"],
        include=[LOGPROBS_INCLUDE],
        audio={"input": {"turn_detection": None, "transcription": {"model": "gpt-4o-transcribe"}}},
    )
    events = _commit(d)
    deltas = _of(events, "delta")
    (completed,) = _of(events, "completed")
    assert len(deltas) > 1 and all(d["logprobs"] for d in deltas)
    assert "".join(d["delta"] for d in deltas) == completed["transcript"]
    assert completed["usage"]["type"] == "tokens"
    assert completed["usage"]["input_token_details"]["audio_tokens"] == 4


def test_beta_transcription_session_update_applies_its_settings() -> None:
    d = SessionDriver(Dialect.BETA)
    settings = {
        "input_audio_format": "pcm16",
        "input_audio_transcription": {
            "model": "gpt-4o-mini-transcribe",
            "language": "en",
            "prompt": "weather",
        },
        "turn_detection": {"type": "server_vad", "silence_duration_ms": 300},
        "input_audio_noise_reduction": {"type": "near_field"},
        "include": [LOGPROBS_INCLUDE],
    }
    (updated,) = d.send({"type": "transcription_session.update", "session": settings})
    assert updated["type"] == "transcription_session.updated"
    session = updated["session"]
    assert session["input_audio_transcription"] == settings["input_audio_transcription"]
    assert session["turn_detection"]["silence_duration_ms"] == 300
    assert session["turn_detection"]["threshold"] == 0.5  # the defaults filled in
    assert session["input_audio_noise_reduction"] == {"type": "near_field"}
    assert session["include"] == [LOGPROBS_INCLUDE]
    assert d.session.input_audio.vad.config.silence_duration_ms == 300

    import numpy as np

    t = np.arange(600 * 24) / 24000
    voice = (np.sin(2 * np.pi * 150 * t) * 8000).astype("<i2").tobytes()
    audio = bytes(200 * 48) + voice + bytes(800 * 48)
    events = d.send(
        {"type": "input_audio_buffer.append", "audio": base64.b64encode(audio).decode()}
    )
    names = types(events)
    assert "input_audio_buffer.committed" in names
    # A transcription session: the turn is transcribed, and no response starts.
    assert "response.created" not in names
    (completed,) = _of(events, "completed")
    assert completed["usage"]["type"] == "tokens"
    assert completed["usage"]["input_token_details"]["text_tokens"] == 2
    assert completed["logprobs"]


def test_beta_transcription_session_update_turns_detection_off() -> None:
    d = SessionDriver(Dialect.BETA)
    d.send({"type": "transcription_session.update", "session": {"turn_detection": None}})
    assert d.session.input_audio.vad is None


def test_speaker_turns_are_segments_for_a_diarising_model_and_text_for_others() -> None:
    turns = SpeakerTurns((("A", "Hello there."), ("B", "Hi!")))
    diarised = transcription_events(
        "item_1", turns, 1.0, {"model": "gpt-4o-transcribe-diarize"}, None
    )
    assert [(s.speaker, s.text) for s in _sdk(_of(diarised, "segment"))] == [
        ("A", "Hello there."),
        ("B", "Hi!"),
    ]
    assert "".join(d["delta"] for d in _of(diarised, "delta")) == "Hello there. Hi!"
    plain = transcription_events("item_1", turns, 1.0, {"model": "gpt-4o-transcribe"}, None)
    assert not _of(plain, "segment")
    assert _of(plain, "completed")[0]["transcript"] == "Hello there. Hi!"


def test_many_speaker_turns_share_the_bound_on_deltas() -> None:
    long = " ".join(["word"] * 1000)
    turns = SpeakerTurns(tuple((f"S{i}", long) for i in range(100)))
    events = transcription_events(
        "item_1", turns, 60.0, {"model": "gpt-4o-transcribe-diarize"}, None
    )
    assert len(_of(events, "delta")) <= MAX_DELTAS and len(_of(events, "segment")) == 100
    assert "".join(d["delta"] for d in _of(events, "delta")) == turns.text


def test_a_scenario_transcription_is_one_of_text_segments_or_error() -> None:
    from mock_server.scenario.model import Transcription

    with pytest.raises(ValueError, match="one of text, segments or error"):
        Transcription.model_validate({"text": "a", "segments": [{"speaker": "A", "text": "a"}]})
    with pytest.raises(ValueError, match="100"):
        Transcription.model_validate({"segments": [{"speaker": "A", "text": "a"}] * 101})
