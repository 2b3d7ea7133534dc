"""Start-up: ``realtime-mock serve`` until it listens, vs a bare ``python -c pass``."""

from __future__ import annotations

import subprocess
import sys
import time

RUNS = 5


def _python_start() -> float:
    start = time.perf_counter()
    subprocess.run([sys.executable, "-c", "import websockets.asyncio.server"], check=True)
    return time.perf_counter() - start


def _serve_start() -> float:
    start = time.perf_counter()
    process = subprocess.Popen(
        [sys.executable, "-m", "harness.cli", "serve", "--port", "0"],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    assert process.stdout is not None
    process.stdout.readline()
    elapsed = time.perf_counter() - start
    process.terminate()
    process.wait(10)
    return elapsed


def run() -> list[tuple[str, str, str, str]]:
    base = min(_python_start() for _ in range(RUNS))
    serve = min(_serve_start() for _ in range(RUNS))
    return [
        (
            "serve: start to listening",
            f"{serve * 1000:.0f} ms",
            f"{base * 1000:.0f} ms python+websockets import",
            f"{serve / base:.1f}x",
        )
    ]
