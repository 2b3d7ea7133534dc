"""Reply speech (mock_server/speech.py): spoken words, deterministic, bounded, tones without."""

from __future__ import annotations

import base64
import threading

import numpy as np
import pytest

from mock_server import speech
from mock_server.protocol.formats import SAMPLE_RATE
from mock_server.responder import _burst, placeholder_speech, placeholder_speech_stream
from mock_server.timing import STEADY
from tests.helpers import SessionDriver, user_text

SENTENCE = "You said: what's the weather in Paris? Let me check that for you."


def speech_features(pcm: bytes) -> tuple[int, float]:
    """How many distinct dominant frequencies (50 Hz bins) the loud 20 ms frames have, and the
    share of their energy between 1 and 4 kHz (speech's upper formants; a hum has ~none)."""
    x = np.frombuffer(pcm, dtype="<i2").astype(np.float64)
    n = SAMPLE_RATE // 50
    frames = x[: len(x) // n * n].reshape(-1, n)
    loud = frames[np.sqrt((frames**2).mean(axis=1)) > 300]
    spectrum = np.abs(np.fft.rfft(loud * np.hanning(n), axis=1)) ** 2
    freqs = np.fft.rfftfreq(n, 1 / SAMPLE_RATE)
    dominant = {round(f / 50) for f in freqs[spectrum.argmax(axis=1)]}
    upper = spectrum[:, (freqs > 1000) & (freqs < 4000)].sum() / spectrum.sum()
    return len(dominant), float(upper)


def is_speech_like(pcm: bytes) -> bool:
    distinct, upper = speech_features(pcm)
    return distinct >= 10 and upper >= 0.02


@pytest.fixture(autouse=True)
def _fresh_cache() -> None:
    speech.clear_cache()


def test_espeak_is_there_for_the_tests() -> None:
    # The test extra installs espeakng-loader: without it the tests below would test tones.
    assert speech.available()


def test_reply_speech_has_the_spectrum_of_speech_and_the_tones_have_not() -> None:
    spoken = speech.synthesize(SENTENCE, "alloy")
    assert spoken is not None
    assert 2.0 < len(spoken) / 48_000 < 8.0  # seconds: about as long as the words
    assert is_speech_like(spoken), speech_features(spoken)
    # The check can fail: the tone fallback's bursts have one pitch and no formants.
    tones = b"".join(_burst(len(w), i, SAMPLE_RATE) for i, w in enumerate(SENTENCE.split()))
    assert not is_speech_like(tones), speech_features(tones)


def test_the_same_text_and_voice_give_the_same_samples_whatever_came_before() -> None:
    first = speech.synthesize(SENTENCE, "coral")
    answers = []
    for before in ("Hello.", "Something else entirely, with a hush: shh.", "x " * 40):
        speech.clear_cache()
        speech.synthesize(before, "ash")
        speech.clear_cache()
        answers.append(speech.synthesize(SENTENCE, "coral"))
    assert all(answer == first for answer in answers)
    assert speech.synthesize(SENTENCE, "ash") != first  # another voice, another pitch
    assert speech.synthesize(SENTENCE, {"id": "coral"}) == first  # GA's voice object


def test_an_unknown_voice_speaks_as_one_of_the_known_ones() -> None:
    assert speech.synthesize("Hi.", "no-such-voice") == speech.synthesize("Hi.", "no-such-voice")
    assert speech.voice_name(None) == speech.DEFAULT_VOICE


def test_text_too_long_or_spelled_out_is_left_to_the_tones() -> None:
    assert speech.synthesize("a " * (speech.MAX_SPEECH_CHARS // 2 + 1)) is None
    assert speech.synthesize("xxxxxxxx " * 20) is None  # letters spelled: far longer than words
    length, _ = placeholder_speech_stream("xxxxxxxx " * 20)
    assert length == len(placeholder_speech("xxxxxxxx " * 20)) > 0


def test_without_espeak_replies_get_tones(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("REALTIME_MOCK_SPEECH", "tones")
    assert not speech.available()
    assert speech.synthesize(SENTENCE) is None
    tones = placeholder_speech(SENTENCE)
    assert len(tones) > 0 and not is_speech_like(tones)


def test_the_canned_models_spoken_reply_is_speech_and_the_same_every_time() -> None:
    replies = []
    for _ in range(2):
        d = SessionDriver(pace=0.0)
        d.send(user_text("What's the weather in Paris?"))
        events = d.send({"type": "response.create"})
        audio = b"".join(
            base64.b64decode(e["delta"])
            for e in events
            if e["type"] == "response.output_audio.delta"
        )
        replies.append(audio)
        speech.clear_cache()
    assert replies[0] == replies[1]
    assert is_speech_like(replies[0]), speech_features(replies[0])


def test_a_speech_worker_that_died_leaves_the_replies_to_tones(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    found = speech._library()
    assert found is not None
    dead = speech._Worker(*found)
    dead._process.kill()
    dead._process.wait(timeout=10)
    monkeypatch.setattr(speech, "_worker", dead)
    monkeypatch.setattr(speech, "_broken", False)  # restored after the test
    try:
        with caplog.at_level("WARNING", logger="realtime_mock"):
            assert speech.synthesize("Nobody is there to say this.") is None
    finally:
        dead.close()  # its pipes too
    assert not speech.available()
    assert "replies get tones instead" in caplog.text
    assert len(placeholder_speech("Nobody is there to say this.")) > 0  # tones


def test_a_long_reply_is_spoken_phrase_by_phrase_with_every_word_of_its_transcript() -> None:
    words = " ".join(f"number {n}, then" for n in range(30))
    assert len(speech.segments(f'You said: "{words}".')) > 2
    d = SessionDriver(pace=0.0)
    d.send(user_text(words))
    events = d.send({"type": "response.create"})
    deltas = [e["delta"] for e in events if e["type"] == "response.output_audio_transcript.delta"]
    done = next(e for e in events if e["type"] == "response.output_audio_transcript.done")
    assert "".join(deltas) == done["transcript"]  # none left behind by the length estimate
    audio = [e["delta"] for e in events if e["type"] == "response.output_audio.delta"]
    pcm = b"".join(map(base64.b64decode, audio))
    assert pcm == placeholder_speech(done["transcript"], voice="marin")  # the same, made ahead
    assert is_speech_like(pcm)


def test_a_reply_stopped_early_forgets_the_phrase_it_made_ahead() -> None:
    d = SessionDriver(pace=1.0, timing=STEADY)
    d.send(user_text(" ".join(f"number {n}, then" for n in range(30))))
    d.send({"type": "response.create"})  # the first phrase streams; the next is made ahead
    assert speech._pending
    d.send({"type": "response.cancel"})
    assert not speech._pending


def test_a_whole_phrase_is_spoken_once_and_the_cache_stays_bounded(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # A load test's reply, said again and again: the worker speaks it once (the concurrency
    # benchmark's server spent 38% of its CPU saying the same seconds-long reply again).
    worker = speech._the_worker()
    assert worker is not None
    spoken: list[str] = []
    speak = worker.speak

    def counting(text: str, voice: str) -> tuple[int, bytes]:
        spoken.append(text)
        return speak(text, voice)

    monkeypatch.setattr(worker, "speak", counting)
    first = speech.synthesize(SENTENCE, "alloy")
    assert first is not None and len(first) > 100_000  # seconds of speech, not one
    assert speech.synthesize(SENTENCE, "alloy") == first
    assert spoken == [SENTENCE]
    # However many phrases are said, the cache holds at most its bound (oldest out first).
    monkeypatch.setattr(speech, "CACHE_BYTES", 3 * len(first))
    for n in range(6):
        speech.synthesize(f"{SENTENCE} Number {n}.", "alloy")
    assert speech._cache_bytes <= 3 * len(first)
    assert sum(map(len, speech._cache.values())) == speech._cache_bytes
    assert (f"{SENTENCE} Number 5.", "alloy") in speech._cache
    assert (SENTENCE, "alloy") not in speech._cache


def test_a_replys_first_phrase_is_made_in_a_thread_while_its_latency_passes(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # Made when its audio is due, on the event loop, an uncached phrase held every session of
    # the server for the 5-15 ms the worker takes.
    made_by: list[str] = []
    make = speech._synthesize

    def recording(text: str, voice: object = None) -> bytes | None:
        made_by.append(threading.current_thread().name)
        return make(text, voice)

    monkeypatch.setattr(speech, "_synthesize", recording)
    d = SessionDriver(pace=1.0)  # live-like timing: a latency before the first audio
    d.send(user_text("What's the weather in Paris?"))
    d.send({"type": "response.create"})
    assert speech._pending  # started, not waited for
    events = d.advance(30.0)
    assert made_by and all(name.startswith("realtime-mock-speech") for name in made_by)
    assert not speech._pending
    done = next(e for e in events if e["type"] == "response.output_audio_transcript.done")
    audio = [e["delta"] for e in events if e["type"] == "response.output_audio.delta"]
    assert b"".join(map(base64.b64decode, audio)) == placeholder_speech(
        done["transcript"], voice="marin"
    )


def test_a_reply_cancelled_before_its_audio_forgets_its_first_phrase() -> None:
    d = SessionDriver(pace=1.0)
    d.send(user_text("What's the weather in Paris?"))
    d.send({"type": "response.create"})
    assert speech._pending
    d.send({"type": "response.cancel"})
    assert not speech._pending


def test_a_reply_cancelled_forgets_only_what_it_started_not_another_sessions_phrase() -> None:
    first, second = SessionDriver(pace=1.0), SessionDriver(pace=1.0)
    for d in (first, second):
        d.send(user_text("What's the weather in Paris?"))
        d.send({"type": "response.create"})  # the same reply: the first session's phrase
    pending = dict(speech._pending)
    assert len(pending) == 1
    second.send({"type": "response.cancel"})
    assert speech._pending == pending  # still the first session's, made for it
    events = first.advance(30.0)
    assert not speech._pending  # taken by its own reply
    assert any(e["type"] == "response.output_audio.delta" for e in events)
