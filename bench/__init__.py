"""Benchmarks: each prints a ratio against a baseline measured in the same run.

Run them all with ``python -m bench`` (or ``realtime-mock bench``). They are not tests:
nothing here asserts a time. Each benchmark module has ``run(**sizes) -> list[Row]`` and two
size presets, ``QUICK`` (``--quick``) and ``TINY`` (the smoke test, which only checks that the
rows are well formed, so that bench code cannot rot).
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

# (benchmark, measured, baseline measured in the same run, ratio and target)
Row = tuple[str, str, str, str]

# The checkout the benchmarks run from, put first on a child process's path (benchmarks are
# not packaged); the fixtures themselves are wherever mock_server.resources finds them.
ROOT = Path(__file__).resolve().parent.parent


def monologue(seconds: float) -> bytes:
    """``seconds`` of 24 kHz PCM16 speech: the monologue fixture, repeated and cut."""
    from mock_server import audio, resources

    one = audio.load_wav(resources.AUDIO / "monologue.wav").tobytes()
    size = int(seconds * 48000) // 2 * 2
    return (one * (size // len(one) + 1))[:size]


def subprocess_env() -> dict[str, str]:
    """The environment for a benchmark's child process: this checkout first on the path."""
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(ROOT), env.get("PYTHONPATH")) if p)
    return env


def python() -> str:
    return sys.executable


def best_of(fn: Callable[[], object], runs: int) -> float:
    """The shortest of ``runs`` timings of ``fn`` in seconds (the least disturbed by noise)."""
    times = []
    for _ in range(max(1, runs)):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return min(times)


def pin(core: int) -> None:
    """Run this process on one core (when the platform lets us and the core exists)."""
    if hasattr(os, "sched_setaffinity") and core < (os.cpu_count() or 1):
        os.sched_setaffinity(0, {core})


def cpu_seconds(pid: int) -> float | None:
    """A process's user + system CPU time, all its threads (Linux /proc; None elsewhere)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return None
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def end(process: subprocess.Popen[str] | subprocess.Popen[bytes]) -> None:
    """Stop a benchmark's server child: SIGTERM, then SIGKILL if it is still there after 10 s."""
    process.terminate()
    try:
        process.wait(10)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait(10)


def listening_url(server: subprocess.Popen[str]) -> str:
    """The URL a benchmark's server child prints first (``... listening on URL``)."""
    assert server.stdout is not None
    line = server.stdout.readline()
    if "listening on " not in line:
        raise RuntimeError(f"the mock did not start: {line!r}")
    return line.split("listening on ", 1)[1].strip()


def run_load(command: list[str], env: dict[str, str], timeout: float) -> str:
    """Run a benchmark's load generator to its end; its stdout (a failure raises, with the
    tail of its stderr)."""
    load = subprocess.run(
        command, capture_output=True, text=True, env=env, timeout=timeout, check=False
    )
    if load.returncode != 0:
        raise RuntimeError(f"the load generator failed:\n{load.stderr[-2000:]}")
    return load.stdout
