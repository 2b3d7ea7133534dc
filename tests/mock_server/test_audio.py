"""Audio: G.711 against the reference, base64 and PCM round trips, WAV files, resampling."""

from __future__ import annotations

import hashlib
import warnings
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from mock_server import audio

ALL_SAMPLES = np.arange(-32768, 32768, dtype=np.int32).astype(np.int16)
ALL_CODES = bytes(range(256))

# SHA-256 of CPython's audioop (the ITU-T reference implementation) over every input, taken on
# Python 3.11 where audioop still exists: the numpy codecs must match it bit for bit.
REFERENCE = {
    "ulaw_encode": "81d633c9e6972a18c74a58720b96cb8ca0bdd096d4060b646dd708c3b846019a",
    "alaw_encode": "38488f6fd710f4686360edc4d38639f96c491595ef93f8eb8d62d5e07ca6ce7b",
    "ulaw_decode": "3dab54339e520bb2c924826e3b72a917a2b612e9fd12fc867500f1d983a75827",
    "alaw_decode": "e04788d110e58ff8c70c93b8480190d973e3b67876b6119abbaec766cc75c174",
}


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def test_g711_matches_the_reference_bit_for_bit() -> None:
    assert sha(audio.ulaw_encode(ALL_SAMPLES)) == REFERENCE["ulaw_encode"]
    assert sha(audio.alaw_encode(ALL_SAMPLES)) == REFERENCE["alaw_encode"]
    assert sha(audio.ulaw_decode(ALL_CODES).tobytes()) == REFERENCE["ulaw_decode"]
    assert sha(audio.alaw_decode(ALL_CODES).tobytes()) == REFERENCE["alaw_decode"]


def test_every_g711_code_survives_decode_then_encode() -> None:
    assert audio.alaw_encode(audio.alaw_decode(ALL_CODES)) == ALL_CODES
    back = audio.ulaw_encode(audio.ulaw_decode(ALL_CODES))
    # u-law has two zeros; the negative one (0x7f) comes back as the positive one (0xff).
    assert [c for c, b in zip(ALL_CODES, back, strict=True) if c != b] == [0x7F]


@given(st.lists(st.integers(-32768, 32767), max_size=500))
def test_g711_round_trip_error_is_bounded_by_the_segment(values: list[int]) -> None:
    samples = np.array(values, dtype=np.int16)
    for encode, decode in (
        (audio.ulaw_encode, audio.ulaw_decode),
        (audio.alaw_encode, audio.alaw_decode),
    ):
        back = decode(encode(samples)).astype(np.int32)
        error = np.abs(back - samples.astype(np.int32))
        # G.711 keeps 4 mantissa bits: the error is under 1/16 of the magnitude (plus a floor).
        assert np.all(error <= np.abs(samples.astype(np.int32)) / 16 + 16)


@given(st.binary(max_size=2000), st.lists(st.integers(1, 50), max_size=20))
def test_base64_round_trips_under_any_chunking(data: bytes, cuts: list[int]) -> None:
    pieces, rest = [], data
    for cut in cuts:
        pieces.append(rest[:cut])
        rest = rest[cut:]
    pieces.append(rest)
    assert b"".join(audio.decode_b64(audio.encode_b64(p)) for p in pieces) == data


@given(st.binary(max_size=400).filter(lambda b: len(b) % 2 == 0))
def test_pcm16_bytes_round_trip(data: bytes) -> None:
    assert audio.samples_to_pcm16(audio.pcm16_to_samples(data)) == data


def test_invalid_base64_says_so() -> None:
    with pytest.raises(audio.AudioFormatError, match="invalid base64 audio"):
        audio.decode_b64("not base64!!")


def test_odd_pcm16_is_an_error() -> None:
    with pytest.raises(audio.AudioFormatError, match="even number of bytes, got 3"):
        audio.pcm16_to_samples(b"abc")


def test_unknown_format_lists_the_known_ones() -> None:
    with pytest.raises(audio.AudioFormatError, match="known: audio/pcm"):
        audio.format_name("opus")


def test_g711_formats_are_8khz_on_the_wire() -> None:
    one_second = np.zeros(24000, dtype=np.int16).tobytes()
    for fmt in ("g711_ulaw", "audio/pcma"):
        encoded = audio.to_format(one_second, fmt)
        assert len(encoded) == 8000
        assert len(audio.from_format(encoded, fmt)) == len(one_second)
        assert audio.duration_ms(len(encoded), fmt) == 1000


def test_wav_round_trip_and_resampling_warns(tmp_path: Path) -> None:
    tone = (np.sin(np.arange(24000) / 10) * 5000).astype(np.int16)
    path = tmp_path / "tone.wav"
    audio.write_wav(path, tone.tobytes())
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert np.array_equal(audio.load_wav(path), tone)
    slow = tmp_path / "tone16k.wav"
    audio.write_wav(slow, tone[:16000].tobytes(), rate=16000)
    with pytest.warns(UserWarning, match="16000 Hz audio resampled to 24000 Hz"):
        loaded = audio.load_wav(slow)
    assert len(loaded) == 24000


def test_analysis_helpers() -> None:
    silence = np.zeros(2400, dtype=np.int16)
    full = np.full(2400, 32767, dtype=np.int16)
    assert audio.is_silent(silence)
    assert audio.rms_dbfs(full) == pytest.approx(0.0, abs=0.01)
    assert audio.clipped_fraction(full) == 1.0
    assert audio.chunk(bytes(4800 * 3 + 10), 100) == [bytes(4800)] * 3 + [bytes(10)]
