"""Server VAD emulation: thresholds, silence durations, offsets, chunking invariance.

The offsets are the turn's, as the openai SDK documents them: ``audio_start_ms`` includes the
prefix padding, ``audio_end_ms`` the silence duration."""

from __future__ import annotations

import numpy as np
from hypothesis import given
from hypothesis import strategies as st

from mock_server.vad import ServerVad, SpeechStarted, SpeechStopped, VadConfig

RATE = 24000


def silence(ms: int) -> bytes:
    return bytes(ms * 48)


def voice(ms: int, level: float = 8000.0) -> bytes:
    t = np.arange(ms * 24) / RATE
    wave = sum(np.sin(2 * np.pi * 150 * k * t) / k for k in (1, 2, 3)) * level
    return wave.astype("<i2").tobytes()


PAUSED_SENTENCE = silence(300) + voice(900) + silence(600) + voice(700) + silence(1200)


def test_a_600ms_pause_splits_the_turn_at_500ms_but_not_at_800ms() -> None:
    # Speech at 300-1200 and 1800-2500 ms.
    cut = ServerVad(VadConfig(prefix_padding_ms=0, silence_duration_ms=500)).feed(PAUSED_SENTENCE)
    assert cut == [
        SpeechStarted(300),
        SpeechStopped(1700),
        SpeechStarted(1800),
        SpeechStopped(3000),
    ]
    whole = ServerVad(VadConfig(prefix_padding_ms=0, silence_duration_ms=800)).feed(PAUSED_SENTENCE)
    assert whole == [SpeechStarted(300), SpeechStopped(3300)]


def test_audio_start_ms_includes_the_prefix_padding_and_audio_end_ms_the_silence() -> None:
    vad = ServerVad(VadConfig(prefix_padding_ms=200, silence_duration_ms=300))
    assert vad.feed(silence(1000) + voice(500) + silence(400)) == [
        SpeechStarted(800),
        SpeechStopped(1800),
    ]


def test_the_prefix_padding_never_reaches_before_the_buffer() -> None:
    # Not before the session's first audio...
    vad = ServerVad(VadConfig(prefix_padding_ms=300))
    assert vad.feed(silence(100) + voice(300))[:1] == [SpeechStarted(0)]
    # ...nor into the turn before (the second speech starts 100 ms after the first turn ended).
    cut = ServerVad(VadConfig(prefix_padding_ms=300, silence_duration_ms=500)).feed(PAUSED_SENTENCE)
    assert cut == [SpeechStarted(0), SpeechStopped(1700), SpeechStarted(1700), SpeechStopped(3000)]
    # ...nor before a reset (a commit or clear).
    vad = ServerVad(VadConfig(prefix_padding_ms=300))
    vad.feed(silence(1000))
    vad.reset()
    assert vad.feed(silence(100) + voice(100)) == [SpeechStarted(1000)]
    # ...nor before the audio buffered when the VAD was switched on.
    vad = ServerVad(VadConfig(prefix_padding_ms=300), offset_ms=5000, buffer_start_ms=4900)
    assert vad.feed(voice(100)) == [SpeechStarted(4900)]


def test_offsets_count_all_audio_written_in_the_session() -> None:
    vad = ServerVad(VadConfig(prefix_padding_ms=50, silence_duration_ms=200), offset_ms=5000)
    assert vad.feed(silence(100) + voice(300) + silence(300)) == [
        SpeechStarted(5050),
        SpeechStopped(5600),
    ]
    assert vad.position_ms == 5700


def test_quiet_noise_is_not_speech_at_the_default_threshold() -> None:
    rng = np.random.default_rng(0)
    noise = (rng.standard_normal(RATE) * 100).astype("<i2").tobytes()  # about -50 dBFS
    assert ServerVad(VadConfig()).feed(noise) == []
    # The same noise counts as speech for a very sensitive threshold.
    assert ServerVad(VadConfig(threshold=0.1)).feed(noise)[:1] == [SpeechStarted(0)]


def test_a_click_is_not_speech() -> None:
    assert ServerVad(VadConfig()).feed(silence(100) + voice(20) + silence(1000)) == []


def test_semantic_eagerness_maps_to_silence_durations() -> None:
    assert ServerVad.for_semantic("high").silence_duration_ms == 250
    assert ServerVad.for_semantic("auto").silence_duration_ms == 500
    assert ServerVad.for_semantic("low").silence_duration_ms == 1000


def test_reset_forgets_speech_but_keeps_the_position() -> None:
    vad = ServerVad(VadConfig())
    assert vad.feed(voice(200)) == [SpeechStarted(0)]
    vad.reset()
    assert not vad.in_speech
    assert vad.feed(silence(1000)) == []
    assert vad.position_ms == 1200


@given(st.lists(st.integers(min_value=1, max_value=len(PAUSED_SENTENCE) - 1), max_size=40))
def test_events_do_not_depend_on_how_the_audio_is_chunked(cut_points: list[int]) -> None:
    expected = ServerVad(VadConfig(silence_duration_ms=500)).feed(PAUSED_SENTENCE)
    vad = ServerVad(VadConfig(silence_duration_ms=500))
    events = []
    start = 0
    for cut in sorted(set(cut_points)):
        events += vad.feed(PAUSED_SENTENCE[start:cut])  # odd byte counts included
        start = cut
    events += vad.feed(PAUSED_SENTENCE[start:])
    assert events == expected


def test_interrupt_ends_the_speech_going_on_and_starts_afresh() -> None:
    vad = ServerVad(VadConfig())
    assert vad.feed(silence(100) + voice(300)) == [SpeechStarted(0)]
    # The speech stops at the end of the audio written: all of it is committed.
    assert vad.interrupt() == SpeechStopped(400)
    assert not vad.in_speech and vad.interrupt() is None
    assert vad.feed(voice(100)) == [SpeechStarted(400)]


def test_undecided_audio_is_the_voiced_run_not_yet_speech() -> None:
    vad = ServerVad(VadConfig())
    vad.feed(silence(500))
    assert vad.undecided_ms == 0
    vad.feed(voice(20) + bytes(100))  # two voiced frames (under 30 ms) and a partial frame
    assert vad.undecided_ms == 20 + 100 / 48


def test_a_big_append_is_analysed_in_blocks_with_the_same_events() -> None:
    from mock_server.vad import MAX_BLOCK_BYTES

    audio = silence(9_990) + voice(500) + silence(12_000) + voice(700) + silence(1000)
    assert len(audio) > 2 * MAX_BLOCK_BYTES
    whole = ServerVad(VadConfig(prefix_padding_ms=0)).feed(audio)
    frames = ServerVad(VadConfig(prefix_padding_ms=0))
    pieces = [frames.feed(audio[i : i + 480]) for i in range(0, len(audio), 480)]
    assert whole == [e for piece in pieces for e in piece]
    assert whole == [
        SpeechStarted(9990),
        SpeechStopped(10990),
        SpeechStarted(22490),
        SpeechStopped(23690),
    ]
