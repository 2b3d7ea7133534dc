"""Audio: PCM16, G.711 u-law and a-law, base64, WAV files, resampling, and simple analysis.

The Realtime API's audio is PCM16 little-endian mono at 24 kHz (48 bytes a millisecond) or
G.711 u-law / a-law at 8 kHz (8 bytes a millisecond), base64-encoded inside JSON events. The
mock keeps PCM16 24 kHz inside and converts at the edge with :func:`to_format` and
:func:`from_format`. G.711 follows the ITU-T reference algorithms, vectorised with numpy
(``audioop`` is gone from Python 3.13). A WAV file at another rate is resampled on load with a
warning, never silently.
"""

from __future__ import annotations

import base64
import binascii
import warnings
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
import soundfile

from mock_server.protocol.formats import BYTES_PER_MS, FORMAT_ALIASES, G711_RATE
from mock_server.protocol.formats import SAMPLE_RATE as PCM16_RATE

Samples = npt.NDArray[np.int16]


class AudioFormatError(ValueError):
    """Audio that is not what it claims to be (bad base64, odd PCM16, unknown format)."""


def format_name(name: str) -> str:
    """The canonical name of an audio format (``pcm16``, ``g711_ulaw``, ``g711_alaw``)."""
    try:
        return FORMAT_ALIASES[name]
    except KeyError:
        known = ", ".join(sorted(FORMAT_ALIASES))
        raise AudioFormatError(f"unknown audio format {name!r}; known: {known}") from None


def encode_b64(data: bytes) -> str:
    """Base64 text of ``data``.

    >>> encode_b64(b"\\x00\\x01")
    'AAE='
    """
    return base64.b64encode(data).decode("ascii")


def decode_b64(text: str) -> bytes:
    """Strict base64 decoding; raises :class:`AudioFormatError` with the reason.

    >>> decode_b64("AAE=")
    b'\\x00\\x01'
    """
    try:
        return base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError) as exc:
        raise AudioFormatError(f"invalid base64 audio ({exc})") from None


def pcm16_to_samples(data: bytes) -> Samples:
    if len(data) % 2:
        raise AudioFormatError(f"PCM16 needs an even number of bytes, got {len(data)}")
    return np.frombuffer(data, dtype="<i2").astype(np.int16)


def samples_to_pcm16(samples: npt.NDArray[Any]) -> bytes:
    return np.asarray(samples, dtype="<i2").tobytes()


def duration_ms(nbytes: int, fmt: str = "pcm16") -> float:
    """The duration of ``nbytes`` of audio in ``fmt``.

    >>> duration_ms(4800)
    100.0
    """
    return nbytes / BYTES_PER_MS[format_name(fmt)]


def chunk(data: bytes, chunk_ms: int, fmt: str = "pcm16") -> list[bytes]:
    """``data`` cut into pieces of ``chunk_ms`` (the last may be shorter).

    >>> [len(c) for c in chunk(bytes(100), 1)]
    [48, 48, 4]
    """
    size = chunk_ms * BYTES_PER_MS[format_name(fmt)]
    return [data[i : i + size] for i in range(0, len(data), size)]


# ---- resampling ----------------------------------------------------------------------------


def resample(samples: npt.NDArray[Any], source_rate: int, target_rate: int) -> Samples:
    """Deterministic resampling: a moving-average low-pass when going down, then linear
    interpolation. Good enough for test speech; not for music."""
    if source_rate == target_rate or len(samples) == 0:
        return np.asarray(samples, dtype=np.int16)
    data = np.asarray(samples, dtype=np.float64)
    if target_rate < source_rate:
        width = max(1, round(source_rate / target_rate))
        kernel = np.ones(width) / width
        data = np.convolve(data, kernel, mode="same")
    count = max(1, round(len(data) * target_rate / source_rate))
    positions = np.arange(count) * (source_rate / target_rate)
    out = np.interp(positions, np.arange(len(data)), data)
    clipped: Samples = np.clip(np.round(out), -32768, 32767).astype(np.int16)
    return clipped


# ---- G.711 -----------------------------------------------------------------------------------

_ULAW_BIAS = 0x84
_ULAW_CLIP_14 = 8159
_ULAW_SEGMENT_ENDS = np.array([0x3F, 0x7F, 0xFF, 0x1FF, 0x3FF, 0x7FF, 0xFFF, 0x1FFF])
_ALAW_SEGMENT_ENDS = np.array([0x1F, 0x3F, 0x7F, 0xFF, 0x1FF, 0x3FF, 0x7FF, 0xFFF])


def ulaw_encode(samples: npt.NDArray[Any]) -> bytes:
    """PCM16 samples -> G.711 u-law bytes (the ITU-T reference, on the 14-bit value)."""
    pcm = np.asarray(samples, dtype=np.int32) >> 2
    mask = np.where(pcm < 0, 0x7F, 0xFF)
    magnitude = np.minimum(np.abs(pcm), _ULAW_CLIP_14) + (_ULAW_BIAS >> 2)
    segment = np.searchsorted(_ULAW_SEGMENT_ENDS, magnitude)
    value = np.where(
        segment >= 8, 0x7F, (np.minimum(segment, 7) << 4) | ((magnitude >> (segment + 1)) & 0x0F)
    )
    return ((value ^ mask) & 0xFF).astype(np.uint8).tobytes()


def ulaw_decode(data: bytes) -> Samples:
    """G.711 u-law bytes -> PCM16 samples."""
    u = ~np.frombuffer(data, dtype=np.uint8).astype(np.int32) & 0xFF
    exponent = (u >> 4) & 0x07
    magnitude = (((u & 0x0F) << 3) + _ULAW_BIAS) << exponent
    return np.where(u & 0x80, _ULAW_BIAS - magnitude, magnitude - _ULAW_BIAS).astype(np.int16)


def alaw_encode(samples: npt.NDArray[Any]) -> bytes:
    """PCM16 samples -> G.711 a-law bytes (ITU-T G.711)."""
    pcm = np.asarray(samples, dtype=np.int32) >> 3
    mask = np.where(pcm >= 0, 0xD5, 0x55)
    pcm = np.where(pcm >= 0, pcm, -pcm - 1)
    segment = np.searchsorted(_ALAW_SEGMENT_ENDS, pcm)
    low = np.where(segment < 2, (pcm >> 1) & 0x0F, (pcm >> np.maximum(segment, 1)) & 0x0F)
    value = np.where(segment >= 8, 0x7F, (np.minimum(segment, 7) << 4) | low)
    return ((value ^ mask) & 0xFF).astype(np.uint8).tobytes()


def alaw_decode(data: bytes) -> Samples:
    """G.711 a-law bytes -> PCM16 samples."""
    a = np.frombuffer(data, dtype=np.uint8).astype(np.int32) ^ 0x55
    t = (a & 0x0F) << 4
    segment = (a & 0x70) >> 4
    t = np.where(segment == 0, t + 8, t + 0x108)
    t = np.where(segment > 1, t << np.maximum(segment - 1, 0), t)
    return np.where(a & 0x80, t, -t).astype(np.int16)


def to_format(pcm16_24k: bytes, fmt: str) -> bytes:
    """PCM16 24 kHz -> the bytes of ``fmt`` (G.711 is 8 kHz)."""
    name = format_name(fmt)
    if name == "pcm16":
        return pcm16_24k
    samples = resample(pcm16_to_samples(pcm16_24k), PCM16_RATE, G711_RATE)
    return ulaw_encode(samples) if name == "g711_ulaw" else alaw_encode(samples)


def from_format(data: bytes, fmt: str) -> bytes:
    """The bytes of ``fmt`` -> PCM16 24 kHz."""
    name = format_name(fmt)
    if name == "pcm16":
        return data
    samples = ulaw_decode(data) if name == "g711_ulaw" else alaw_decode(data)
    return samples_to_pcm16(resample(samples, G711_RATE, PCM16_RATE))


# ---- WAV files -------------------------------------------------------------------------------


def load_wav(path: str | Path, rate: int = PCM16_RATE) -> Samples:
    """A WAV file as mono int16 samples at ``rate``; another rate is resampled with a warning."""
    data, source_rate = soundfile.read(str(path), dtype="int16", always_2d=True)
    mono = data.mean(axis=1).astype(np.int16) if data.shape[1] > 1 else data[:, 0]
    if source_rate != rate:
        warnings.warn(
            f"{path}: {source_rate} Hz audio resampled to {rate} Hz; record fixtures at "
            f"{rate} Hz to use them as they are",
            stacklevel=2,
        )
        mono = resample(mono, int(source_rate), rate)
    return np.asarray(mono, dtype=np.int16)


def write_wav(path: str | Path, pcm16: bytes, rate: int = PCM16_RATE) -> None:
    """Write PCM16 mono bytes as a WAV file."""
    soundfile.write(str(path), pcm16_to_samples(pcm16), rate, subtype="PCM_16")


# ---- analysis (diagnostics of the client's audio) ---------------------------------------------


# Below this level a turn is silence (a muted microphone), not quiet speech.
SILENT_DBFS = -60.0


def rms_dbfs(samples: npt.NDArray[Any]) -> float:
    """The RMS level in dBFS (-inf for silence)."""
    if len(samples) == 0:
        return float("-inf")
    rms = float(np.sqrt(np.mean(np.square(np.asarray(samples, dtype=np.float64)))))
    return 20 * float(np.log10(rms / 32768)) if rms > 0 else float("-inf")


def is_silent(samples: npt.NDArray[Any], threshold_dbfs: float = SILENT_DBFS) -> bool:
    return rms_dbfs(samples) < threshold_dbfs


def clipped_fraction(samples: npt.NDArray[Any]) -> float:
    """The fraction of samples at full scale."""
    if len(samples) == 0:
        return 0.0
    data = np.asarray(samples, dtype=np.int32)
    return float(np.mean((data >= 32767) | (data <= -32768)))
