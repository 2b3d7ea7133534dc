"""Recognising known speech in the audio a client streamed, for input transcription.

The mock has no speech recogniser; it knows the fixtures instead. A fixture's fingerprint is the
envelope of its level: the log energy of 10 ms frames, trimmed of leading and trailing silence,
less its mean (so a gain change, which shifts every frame's dB equally, does not matter). A
committed buffer matches a fixture when the lengths agree within 20% and the normalised
correlation of the envelopes, at the best shift of up to 200 ms, is at least 0.9. That survives
any chunking (it sees the committed bytes), a few hundred ms more or less silence around the
speech, and gain changes of 6 dB; unrelated speech, noise and silence do not match.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import numpy.typing as npt
import yaml

from mock_server import audio, resources
from mock_server.protocol import formats

FRAME = 240  # 10 ms at 24 kHz
FLOOR_DB = -55.0
MAX_SHIFT = 20
MIN_SCORE = 0.9
ENVELOPE_BLOCK = 4096  # frames (41 s) analysed at a time
FIXTURES = resources.AUDIO

Envelope = npt.NDArray[np.float64]


@dataclass(frozen=True)
class Match:
    name: str
    transcript: str
    score: float


def envelope(pcm16: bytes) -> Envelope | None:
    """The mean-removed dB envelope of the speech in ``pcm16`` (None when it is all silence)."""
    samples = np.frombuffer(pcm16[: len(pcm16) // 2 * 2], dtype="<i2")
    count = len(samples) // FRAME
    if count == 0:
        return None
    # Each frame's power, a block of frames at a time: a committed turn may be 15 MiB, and
    # whole-turn float64 temporaries would cost a commit hundreds of ms and 120 MB.
    power = np.empty(count)
    for start in range(0, count, ENVELOPE_BLOCK):
        block = samples[start * FRAME : min(count, start + ENVELOPE_BLOCK) * FRAME]
        frames = block.reshape(-1, FRAME)
        power[start : start + len(frames)] = np.einsum("ij,ij->i", frames, frames, dtype=np.float64)
    level = 10 * np.log10(power / FRAME / 32768**2 + 1e-10)
    loud = np.nonzero(level > FLOOR_DB)[0]
    if len(loud) < 5:
        return None
    trimmed = np.maximum(level[loud[0] : loud[-1] + 1], FLOOR_DB)
    centred: Envelope = trimmed - trimmed.mean()
    return centred


def _score(a: Envelope, b: Envelope) -> float:
    best = -1.0
    for shift in range(-MAX_SHIFT, MAX_SHIFT + 1):
        x, y = (a[shift:], b) if shift >= 0 else (a, b[-shift:])
        n = min(len(x), len(y))
        if n < 5:
            continue
        xs, ys = x[:n] - x[:n].mean(), y[:n] - y[:n].mean()
        denominator = float(np.sqrt(np.sum(xs**2) * np.sum(ys**2)))
        if denominator > 0:
            best = max(best, float(np.sum(xs * ys)) / denominator)
    return best


class FingerprintIndex:
    """Known speech by envelope; :meth:`transcribe` is a session transcriber.

    >>> index = FingerprintIndex.from_manifest()
    >>> pcm = audio.load_wav(FIXTURES / "question.wav").tobytes()
    >>> index.transcribe(pcm)
    "What's the weather in Paris?"
    """

    def __init__(self) -> None:
        self._known: list[tuple[str, str, Envelope]] = []

    def add(self, name: str, pcm16: bytes, transcript: str) -> None:
        found = envelope(pcm16)
        if found is not None:
            self._known.append((name, transcript, found))

    def match(self, pcm16: bytes) -> Match | None:
        candidate = envelope(pcm16)
        if candidate is None:
            return None
        best: Match | None = None
        for name, transcript, known in self._known:
            if not 0.8 <= len(candidate) / len(known) <= 1.25:
                continue
            score = _score(candidate, known)
            if score >= MIN_SCORE and (best is None or score > best.score):
                best = Match(name, transcript, score)
        return best

    def transcribe(self, pcm16: bytes) -> str | None:
        found = self.match(pcm16)
        return found.transcript if found is not None else None

    @classmethod
    def from_manifest(cls, manifest: Path | None = None) -> FingerprintIndex:
        """An index of every 24 kHz speech fixture with a transcript in ``manifest``."""
        path = manifest or FIXTURES / "manifest.yaml"
        index = cls()
        if not path.exists():
            return index
        entries = yaml.safe_load(path.read_text()) or {}
        for name, entry in entries.items():
            transcript = entry.get("transcript")
            if (
                transcript
                and entry.get("rate") == formats.SAMPLE_RATE
                and "speech" in entry["kind"]
            ):
                pcm = audio.load_wav(path.parent / entry["file"]).tobytes()
                index.add(name, pcm, transcript)
        return index
