"""VAD speed: the server-VAD emulation as a multiple of real time, on one core.

The monologue fixture, repeated to 60 s, is fed in 20 ms chunks (as a client streams it). The
baseline, measured in the same run, is one vectorised numpy RMS pass over the same audio in
10 ms frames: the least any energy-based VAD must do. Target: at least 500x real time.
"""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np

from mock_server import audio
from mock_server.vad import ServerVad, VadConfig

FIXTURE = Path(__file__).resolve().parent.parent / "fixtures" / "audio" / "monologue.wav"
SECONDS = 60


def _audio() -> bytes:
    one = audio.load_wav(FIXTURE).tobytes()
    return (one * (SECONDS * 48000 // len(one) + 1))[: SECONDS * 48000]


def _best(fn: object, runs: int = 5) -> float:
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        fn()  # type: ignore[operator]
        times.append(time.perf_counter() - start)
    return min(times)


def run() -> list[tuple[str, str, str, str]]:
    pcm = _audio()
    chunks = audio.chunk(pcm, 20)

    def vad() -> None:
        detector = ServerVad(VadConfig())
        for piece in chunks:
            detector.feed(piece)

    def baseline() -> None:
        frames = np.frombuffer(pcm, dtype="<i2").astype(np.float64).reshape(-1, 240)
        np.sqrt(np.mean(frames * frames, axis=1))

    vad_s = _best(vad)
    base_s = _best(baseline)
    return [
        (
            "VAD speed (60 s, 20 ms chunks)",
            f"{SECONDS / vad_s:,.0f}x real time (target >= 500x)",
            f"{SECONDS / base_s:,.0f}x numpy RMS pass",
            f"{base_s / vad_s:.2f} of the baseline's speed",
        )
    ]


if __name__ == "__main__":
    for row in run():
        print(" | ".join(row))
