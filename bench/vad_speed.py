"""VAD speed: the server-VAD emulation as a multiple of real time, on one core.

The monologue fixture, repeated to 60 s, is fed in 20 ms chunks (as a client streams it). The
baseline, measured in the same run, is one vectorised numpy RMS pass over the same audio in
10 ms frames: the least any energy-based VAD must do. Target: at least 500x real time.
"""

from __future__ import annotations

import numpy as np

from bench import Row, best_of, monologue
from mock_server import audio
from mock_server.vad import ServerVad, VadConfig

QUICK = {"seconds": 60, "runs": 3}
TINY = {"seconds": 1, "runs": 1}


def run(seconds: int = 60, runs: int = 5) -> list[Row]:
    pcm = monologue(seconds)
    chunks = audio.chunk(pcm, 20)

    def vad() -> None:
        detector = ServerVad(VadConfig())
        for piece in chunks:
            detector.feed(piece)

    def baseline() -> None:
        frames = np.frombuffer(pcm, dtype="<i2").astype(np.float64).reshape(-1, 240)
        np.sqrt(np.mean(frames * frames, axis=1))

    vad_s = best_of(vad, runs)
    base_s = best_of(baseline, runs)
    return [
        (
            f"VAD speed ({seconds} s, 20 ms chunks)",
            f"{seconds / vad_s:,.0f}x real time (target >= 500x)",
            f"{seconds / base_s:,.0f}x numpy RMS pass",
            f"{base_s / vad_s:.2f} of the baseline's speed",
        )
    ]


if __name__ == "__main__":
    for row in run():
        print(" | ".join(row))
