"""The audio fixtures: VAD against their measured boundaries, and recognising them."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest
import yaml
from hypothesis import given
from hypothesis import strategies as st

from mock_server import audio
from mock_server.fingerprint import FingerprintIndex
from mock_server.vad import ServerVad, SpeechStarted, SpeechStopped, VadConfig

FIXTURES = Path(__file__).resolve().parents[2] / "fixtures" / "audio"
MANIFEST: dict[str, dict[str, Any]] = yaml.safe_load((FIXTURES / "manifest.yaml").read_text())
SPEECH = [
    name for name, e in MANIFEST.items() if e["kind"].startswith("speech") and e["rate"] == 24000
]


def pcm(name: str) -> bytes:
    return audio.load_wav(FIXTURES / MANIFEST[name]["file"]).tobytes()


def test_the_folder_is_small_and_complete() -> None:
    assert sum(p.stat().st_size for p in FIXTURES.iterdir()) < 2 * 1024 * 1024
    for entry in MANIFEST.values():
        assert (FIXTURES / entry["file"]).exists()


def test_the_600ms_pause_is_two_turns_at_500ms_and_one_at_800ms() -> None:
    data = pcm("pause_600ms") + bytes(48 * 1000)
    at_500 = ServerVad(VadConfig(silence_duration_ms=500)).feed(data)
    at_800 = ServerVad(VadConfig(silence_duration_ms=800)).feed(data)
    assert [type(e) for e in at_500] == [SpeechStarted, SpeechStopped] * 2
    assert [type(e) for e in at_800] == [SpeechStarted, SpeechStopped]


@pytest.mark.parametrize("name", SPEECH)
def test_vad_offsets_are_within_10ms_of_the_measured_speech_and_its_padding(name: str) -> None:
    # The manifest's speech_ms is the signal's; a turn's offsets add the prefix padding before
    # it (never before the previous turn's end) and the silence duration after it.
    config = VadConfig(prefix_padding_ms=300, silence_duration_ms=500)
    events = ServerVad(config).feed(pcm(name) + bytes(48 * 1000))
    segments = MANIFEST[name]["speech_ms"]
    # Segments closer than the silence duration are one turn for the VAD.
    turns: list[list[int]] = []
    for start, end in segments:
        if turns and start - turns[-1][1] < 500:
            turns[-1][1] = end
        else:
            turns.append([start, end])
    starts = [e.audio_start_ms for e in events if isinstance(e, SpeechStarted)]
    ends = [e.audio_end_ms for e in events if isinstance(e, SpeechStopped)]
    assert len(starts) == len(turns)
    previous_end = 0
    for (start, end), got_start, got_end in zip(turns, starts, ends, strict=True):
        assert abs(got_start - max(start - 300, previous_end)) <= 10
        assert abs(got_end - (end + 500)) <= 10
        previous_end = got_end


def test_silence_and_noise_are_not_speech() -> None:
    for name in ("silence", "noise"):
        assert ServerVad(VadConfig()).feed(pcm(name)) == []


INDEX = FingerprintIndex.from_manifest(FIXTURES / "manifest.yaml")


@given(
    st.sampled_from(SPEECH),
    st.sampled_from([0.5, 0.71, 1.0, 1.41, 2.0]),
    st.integers(0, 400),
    st.integers(0, 400),
)
def test_fixtures_are_recognised_under_gain_and_padding(
    name: str, gain: float, lead_ms: int, tail_ms: int
) -> None:
    samples = np.clip(audio.load_wav(FIXTURES / MANIFEST[name]["file"]) * gain, -32768, 32767)
    data = bytes(48 * lead_ms) + samples.astype("<i2").tobytes() + bytes(48 * tail_ms)
    found = INDEX.match(data)
    assert found is not None and found.name == name
    assert found.transcript == MANIFEST[name]["transcript"]


@pytest.mark.parametrize("name", ["silence", "noise", "tone"])
def test_non_speech_is_not_recognised(name: str) -> None:
    assert INDEX.match(pcm(name)) is None


def test_a_part_of_a_fixture_is_not_recognised_as_the_whole() -> None:
    assert INDEX.match(pcm("monologue")[: 48 * 3000]) is None


def test_g711_fixtures_decode_to_the_question() -> None:
    for suffix, fmt in (("ulaw", "g711_ulaw"), ("alaw", "g711_alaw")):
        data = (FIXTURES / f"question.{suffix}").read_bytes()
        found = INDEX.match(audio.from_format(data, fmt))
        assert found is not None and found.name == "question"


def test_other_rates_are_resampled_with_a_warning() -> None:
    with pytest.warns(UserWarning, match="16000 Hz audio resampled"):
        samples = audio.load_wav(FIXTURES / "question_16k.wav")
    found = INDEX.match(samples.tobytes())
    assert found is not None and found.name == "question"
