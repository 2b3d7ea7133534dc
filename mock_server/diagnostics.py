"""Diagnostics of the audio a client streams: the mistakes that make voice agents deaf.

Each is a warning with numbers, reported once per session and kind (the session records them
as findings and notes them in the transcript):

- ``audio_rate_mismatch``: audio streamed live (appends spread over at least 2 s of wall time,
  no gap over 500 ms) arriving at a rate that is not the format's real-time rate: 16 kHz audio
  sent as 24 kHz PCM16 arrives at about 32,000 B/s instead of 48,000 B/s;
- ``odd_pcm16_length``: a PCM16 append with an odd number of bytes (half a sample);
- ``silent_audio`` / ``clipped_audio``: a committed turn that is all silence (under -60 dBFS)
  or has over 1% of its samples at full scale;
- ``format_mismatch``: bytes whose statistics say they are PCM16 in a G.711 session, or G.711
  in a PCM16 session (in PCM16 speech the high byte of each sample stays near 0x00/0xFF while
  the low byte varies; G.711 bytes have no such pattern).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from mock_server import audio

LIVE_MIN_SPAN_S = 2.0
LIVE_MAX_GAP_S = 0.5
RATE_TOLERANCE = 0.15
Warning_ = tuple[str, str]


def _high_byte_concentration(data: bytes) -> tuple[float, float]:
    """Shares of the odd (high) and even (low) bytes that are near zero (0x00-0x03, 0xFC-0xFF)."""
    raw = np.frombuffer(data[: len(data) // 2 * 2], dtype=np.uint8)
    if len(raw) < 2:
        return 0.0, 0.0
    near_zero = (raw <= 0x03) | (raw >= 0xFC)
    return float(near_zero[1::2].mean()), float(near_zero[0::2].mean())


@dataclass
class InputAudioDiagnostics:
    """Fed every append and every committed buffer; returns new warnings ``(kind, message)``."""

    reported: set[str] = field(default_factory=set)
    _stream_start: float | None = None
    _stream_last: float = 0.0
    _stream_bytes: int = 0
    _first_chunk: int = 0

    def _once(self, kind: str, message: str) -> list[Warning_]:
        if kind in self.reported:
            return []
        self.reported.add(kind)
        return [(kind, message)]

    def on_append(self, chunk: bytes, fmt: str, now: float) -> list[Warning_]:
        found: list[Warning_] = []
        if fmt == "pcm16" and len(chunk) % 2:
            found += self._once(
                "odd_pcm16_length",
                f"an input_audio_buffer.append carried {len(chunk)} bytes: PCM16 samples are 2 "
                "bytes, so half a sample is lost (split audio on even byte boundaries)",
            )
        if self._stream_start is None or now - self._stream_last > LIVE_MAX_GAP_S:
            self._stream_start, self._stream_bytes, self._first_chunk = now, 0, len(chunk)
        self._stream_last = now
        self._stream_bytes += len(chunk)
        span = now - self._stream_start
        if span >= LIVE_MIN_SPAN_S:
            rate = (self._stream_bytes - self._first_chunk) / span
            expected = audio.BYTES_PER_MS[fmt] * 1000
            ratio = rate / expected
            if 0.25 <= ratio <= 3.0 and abs(ratio - 1) > RATE_TOLERANCE:
                hint = ""
                if fmt == "pcm16":
                    hint = f" (is it {round(24 * ratio)} kHz audio sent as 24 kHz?)"
                found += self._once(
                    "audio_rate_mismatch",
                    f"input audio streamed live at {rate:,.0f} B/s while {fmt} in real time is "
                    f"{expected:,} B/s: {ratio:.2f}x real time{hint}",
                )
        return found

    def on_commit(self, data: bytes, fmt: str) -> list[Warning_]:
        if len(data) < 480:
            return []
        found: list[Warning_] = []
        pcm = data if fmt == "pcm16" else audio.from_format(data, fmt)
        samples = np.frombuffer(pcm[: len(pcm) // 2 * 2], dtype="<i2")
        level = audio.rms_dbfs(samples)
        if audio.is_silent(samples):
            found += self._once(
                "silent_audio",
                f"a committed turn of {audio.duration_ms(len(data), fmt):.0f} ms is silence "
                f"({level:.0f} dBFS): is the microphone muted, or the wrong device?",
            )
        clipped = audio.clipped_fraction(samples)
        if clipped > 0.01:
            found += self._once(
                "clipped_audio",
                f"{clipped:.1%} of a committed turn's samples are at full scale: the input gain "
                "is too high",
            )
        high, low = _high_byte_concentration(data)
        if fmt != "pcm16" and high > 0.6 and low < 0.3:
            found += self._once(
                "format_mismatch",
                f"the session's input format is {fmt} but the audio looks like PCM16 "
                f"({high:.0%} of odd bytes are near zero, as PCM16's high bytes are)",
            )
        if fmt == "pcm16" and high < 0.2 and level > -10:
            found += self._once(
                "format_mismatch",
                f"the session's input format is pcm16 but the audio decodes to {level:.0f} dBFS "
                "noise: is it G.711 (set audio.input.format to audio/pcmu or audio/pcma)?",
            )
        return found
