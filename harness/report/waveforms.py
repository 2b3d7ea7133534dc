"""The audio of a report: the waveforms' envelopes, the VAD's markers and spans, the reply's
truncation points, the audio as the page embeds it, and the diagnostics.

Bounded whatever the session's length: an envelope has at most
:data:`~harness.report.model.ENVELOPE_POINTS` min/max pairs; audio is embedded at full quality
up to :data:`~harness.report.model.FULL_QUALITY_S` and at 8 kHz G.711 after that, up to
:data:`~harness.report.model.MAX_AUDIO_S`; the work is done in pieces, with ``pause`` between.
"""

from __future__ import annotations

import base64

import numpy as np

from harness.report.model import (
    AUDIO_DELTAS,
    B64_PIECE,
    ENVELOPE_POINTS,
    FULL_QUALITY_S,
    MAX_AUDIO_S,
    PAUSE_EVERY,
    Marker,
    Pause,
    Span,
    Waveform,
    audio_size,
    decode,
    no_pause,
    turn_detection,
)
from harness.timeline import audio_format_of
from mock_server import audio
from mock_server.protocol.formats import SAMPLE_RATE
from mock_server.transcript import Transcript

# ---- audio ----------------------------------------------------------------------------------


def envelope(pcm16: bytes, points: int = ENVELOPE_POINTS, pause: Pause = no_pause) -> list[int]:
    """Min and max of each of up to ``points`` equal slices, scaled to -127..127.

    >>> envelope(np.array([0, 32767, -32768, 0], dtype="<i2").tobytes(), points=2)
    [0, 127, -128, 0]
    """
    samples = np.frombuffer(pcm16, dtype="<i2", count=len(pcm16) // 2)
    if samples.size == 0:
        return []
    count = min(points, samples.size)
    edges = np.linspace(0, samples.size, count + 1, dtype=np.int64)
    pairs: list[int] = []
    for start in range(0, count, PAUSE_EVERY):  # a slice of the slices at a time
        pause()
        stop = min(count, start + PAUSE_EVERY)
        part = samples[edges[start] : edges[stop]]
        cuts = edges[start:stop] - edges[start]
        lows = np.minimum.reduceat(part, cuts) // 256
        highs = np.maximum.reduceat(part, cuts) // 256
        for low, high in zip(lows.tolist(), highs.tolist(), strict=True):
            pairs += (low, high)
    return pairs


def _b64(data: bytes, pause: Pause) -> str:
    pieces = []
    for start in range(0, len(data), B64_PIECE):
        pause()
        pieces.append(base64.b64encode(data[start : start + B64_PIECE]).decode("ascii"))
    return "".join(pieces)


def embedded(pcm16: bytes, pause: Pause = no_pause) -> tuple[str, str, str]:
    """(mime, base64, note) of ``pcm16`` as the page embeds it."""
    seconds = len(pcm16) / (SAMPLE_RATE * 2)
    note = ""
    if seconds > MAX_AUDIO_S:
        pcm16 = pcm16[: MAX_AUDIO_S * SAMPLE_RATE * 2]
        note = f"audio embedded up to {MAX_AUDIO_S // 60} min of {seconds / 60:.0f}"
    if seconds <= FULL_QUALITY_S:
        return "audio/wav", _b64(_wav(pcm16, SAMPLE_RATE), pause), note
    # A minute at a time: 3:1 by averaging, then u-law (the page decodes it back to PCM16).
    coded = bytearray()
    minute = SAMPLE_RATE * 2 * 60
    for start in range(0, len(pcm16), minute):
        pause()
        samples = audio.pcm16_to_samples(pcm16[start : start + minute])
        usable = samples[: samples.size // 3 * 3].astype(np.int32)
        coded += audio.ulaw_encode(usable.reshape(-1, 3).mean(axis=1))
    quality = "embedded at 8 kHz (u-law) to keep the page light"
    note = f"{note}; {quality}" if note else quality
    return "audio/x-mulaw-8k", _b64(bytes(coded), pause), note


def _wav(pcm16: bytes, rate: int) -> bytes:
    size = len(pcm16)
    header = b"RIFF" + (36 + size).to_bytes(4, "little") + b"WAVEfmt "
    header += (16).to_bytes(4, "little") + (1).to_bytes(2, "little") + (1).to_bytes(2, "little")
    header += rate.to_bytes(4, "little") + (rate * 2).to_bytes(4, "little")
    header += (2).to_bytes(2, "little") + (16).to_bytes(2, "little")
    return header + b"data" + size.to_bytes(4, "little") + pcm16


def input_waveform(transcript: Transcript, pcm16: bytes, pause: Pause) -> Waveform:
    started: dict[str, float] = {}
    markers: list[Marker] = []
    spans: list[Span] = []
    silence_ms: float | None = None
    for n, entry in enumerate(transcript.entries):
        if n % PAUSE_EVERY == 0:
            pause()
        event = entry.event
        if entry.direction != "server" or event is None:
            continue
        session = event.get("session")
        if isinstance(session, dict):
            detection = turn_detection(session)
            if isinstance(detection, dict) and "silence_duration_ms" in detection:
                silence_ms = float(detection["silence_duration_ms"])
        item = str(event.get("item_id", ""))
        if event.get("type") == "input_audio_buffer.speech_started":
            ms = float(event.get("audio_start_ms", 0))
            started[item] = ms
            markers.append(Marker("speech_started", ms, f"speech_started {ms:.0f} ms"))
        elif event.get("type") == "input_audio_buffer.speech_stopped":
            ms = float(event.get("audio_end_ms", 0))
            markers.append(Marker("speech_stopped", ms, f"speech_stopped {ms:.0f} ms"))
            if item in started:
                spans.append(Span("committed", started[item], ms, f"turn {item}"))
            if silence_ms:
                label = f"silence_duration_ms {silence_ms:.0f}: the silence the VAD waited for"
                spans.append(Span("silence", max(0.0, ms - silence_ms), ms, label))
    mime, data, note = embedded(pcm16, pause)
    return Waveform(
        "input",
        len(pcm16) / (SAMPLE_RATE * 2) * 1000,
        envelope(pcm16, pause=pause),
        markers,
        spans,
        mime,
        data,
        note,
    )


def reply_waveform(transcript: Transcript, pause: Pause) -> Waveform | None:
    fmt = "pcm16"
    parts: dict[str, list[bytes]] = {}
    missing = 0
    truncations: list[tuple[str, float]] = []
    for n, entry in enumerate(transcript.entries):
        if n % PAUSE_EVERY == 0:
            pause()
        event = entry.event
        if event is None:
            continue
        session = event.get("session")
        if entry.direction == "server" and isinstance(session, dict):
            fmt = audio_format_of(session, "output") or fmt
        if entry.direction == "server" and event.get("type") in AUDIO_DELTAS:
            chunk = decode(event.get("delta"))
            missing += not chunk
            parts.setdefault(str(event.get("item_id", "")), []).append(
                audio.from_format(chunk, fmt) if chunk else b""
            )
        elif entry.direction == "client" and event.get("type") == "conversation.item.truncate":
            truncations.append((str(event.get("item_id")), float(event.get("audio_end_ms", 0))))
    if not parts:
        return None
    offsets: dict[str, float] = {}
    tape = bytearray()
    markers: list[Marker] = []
    for item, chunks in parts.items():
        offsets[item] = len(tape) / (SAMPLE_RATE * 2) * 1000
        markers.append(Marker("reply_start", offsets[item], f"reply {item}"))
        for chunk in chunks:
            tape += chunk
    for item, end_ms in truncations:
        if item in offsets:
            at = offsets[item] + end_ms
            markers.append(Marker("truncate", at, f"truncate {item} at {end_ms:.0f} ms"))
    pcm16 = bytes(tape)
    mime, data, note = embedded(pcm16, pause)
    if missing:
        kept = "some audio deltas were not kept in the transcript (its payload limit)"
        note = f"{note}; {kept}" if note else kept
    duration = len(pcm16) / (SAMPLE_RATE * 2) * 1000
    return Waveform("reply", duration, envelope(pcm16, pause=pause), markers, [], mime, data, note)


def diagnostics(transcript: Transcript, pcm16: bytes | None) -> list[tuple[str, str]]:
    rows: list[tuple[str, str]] = []
    appends = [e for e in transcript.entries if e.type == "input_audio_buffer.append"]
    if appends:
        total = sum(audio_size(e) for e in appends)
        span = appends[-1].t - appends[0].t
        rows.append(("appends", f"{len(appends)} ({total:,} bytes)"))
        if span > 0:
            rows.append(("arrival rate", f"{total / span:,.0f} B/s (PCM16 24 kHz is 48,000)"))
    if pcm16:
        samples = audio.pcm16_to_samples(pcm16)
        rows.append(("input duration", f"{len(pcm16) / (SAMPLE_RATE * 2):.2f} s"))
        rows.append(("level", f"{audio.rms_dbfs(samples):.1f} dBFS RMS"))
        peak = float(np.max(np.abs(samples))) if samples.size else 0.0
        rows.append(("peak", f"{20 * np.log10(max(peak / 32768, 1e-9)):.1f} dBFS"))
        rows.append(("clipping", f"{audio.clipped_fraction(samples) * 100:.2f}% of samples"))
    for entry in transcript.entries:
        finding = entry.finding
        if finding is not None and finding.severity == "warning":
            rows.append((finding.kind, finding.message))
    return rows
