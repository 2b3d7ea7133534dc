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
  in a PCM16 session (see :func:`byte_smoothness`).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from mock_server import audio
from mock_server.protocol import formats

LIVE_MIN_SPAN_S = 2.0
LIVE_MAX_GAP_S = 0.5
RATE_TOLERANCE = 0.15
Warning_ = tuple[str, str]


def byte_smoothness(data: bytes) -> tuple[float, float]:
    """Mean step between consecutive odd (high) bytes, read as signed, and even (low) bytes.

    In PCM16 audio the high byte of each sample follows the waveform and moves a little from
    sample to sample, while the low byte jumps around: the first figure is far smaller than the
    second. G.711 codes (or any other byte stream) show no such split.
    """
    raw = np.frombuffer(data[: len(data) // 2 * 2], dtype=np.uint8)
    if len(raw) < 8:
        return 0.0, 0.0
    high = raw[1::2].astype(np.int8).astype(np.int32)
    low = raw[0::2].astype(np.int32)
    return float(np.abs(np.diff(high)).mean()), float(np.abs(np.diff(low)).mean())


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
            expected = formats.BYTES_PER_MS[fmt] * 1000
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

    def on_commit(self, data: bytes | bytearray, fmt: str) -> list[Warning_]:
        if len(data) < 480:
            return []
        whole = len(data)
        # The first minute tells a muted or misformatted microphone as well as the whole turn
        # does, and keeps a commit's cost bounded (a full buffer is 15 MiB).
        data = bytes(memoryview(data)[: 60_000 * formats.BYTES_PER_MS[audio.format_name(fmt)]])
        found: list[Warning_] = []
        pcm = data if fmt == "pcm16" else audio.from_format(data, fmt)
        samples = np.frombuffer(pcm[: len(pcm) // 2 * 2], dtype="<i2")
        level = audio.rms_dbfs(samples)
        if level < audio.SILENT_DBFS:  # audio.is_silent, without a second pass over the turn
            found += self._once(
                "silent_audio",
                f"a committed turn of {audio.duration_ms(whole, fmt):.0f} ms is silence "
                f"({level:.0f} dBFS): is the microphone muted, or the wrong device?",
            )
        clipped = audio.clipped_fraction(samples)
        if clipped > 0.01:
            found += self._once(
                "clipped_audio",
                f"{clipped:.1%} of a committed turn's samples are at full scale: the input gain "
                "is too high",
            )
        high_step, low_step = byte_smoothness(data)
        looks_pcm16 = low_step > 20 and high_step * 4 < low_step
        if fmt != "pcm16" and looks_pcm16:
            found += self._once(
                "format_mismatch",
                f"the session's input format is {fmt} but the audio looks like PCM16 (its odd "
                f"bytes move {high_step:.1f} a sample, its even bytes {low_step:.1f}: the "
                "signature of 16-bit samples)",
            )
        if fmt == "pcm16" and not looks_pcm16 and level > -20:
            found += self._once(
                "format_mismatch",
                f"the session's input format is pcm16 but the audio decodes to {level:.0f} dBFS "
                "noise: is it G.711 (set audio.input.format to audio/pcmu or audio/pcma)?",
            )
        return found
