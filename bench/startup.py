"""Start-up and load: ``realtime-mock serve`` until it listens, and the scenario library's lint.

Serve: from starting the process to its first line (printed once it listens and handles
signals), vs a bare ``python -c "import websockets.asyncio.server; print(...)"`` timed to its
line the same way, the two interleaved; and to a first session's ``session.created`` (the
session package and the SDK's models load in a thread once the server listens). Lint: loading and
checking every scenario of ``scenarios/`` in process (what ``realtime-mock lint scenarios/``
does), vs only parsing the same files with ``yaml.safe_load``.

Both sides start from bytecode, as an install has it: websockets' own is compiled when pip
installs it, and the project's modules are compiled here first (``compileall``, into their
``__pycache__``). From a checkout with ``PYTHONDONTWRITEBYTECODE`` set, as on the project's
machine, every run would otherwise compile the ~40 modules ``serve`` loads before it listens
(about 50 ms, a third of the figure): a cost of the checkout, not of the command.
"""

from __future__ import annotations

import compileall
import re
import subprocess
import time
from pathlib import Path

import yaml

from bench import Row, best_of, python, subprocess_env
from mock_server import resources

QUICK = {"runs": 3}
TINY = {"runs": 1}
LIBRARY = resources.SCENARIOS


_BASELINE = "import websockets.asyncio.server; print('ready', flush=True)"


def _first_line(argv: list[str]) -> tuple[float, str, subprocess.Popen[str]]:
    """Seconds from starting ``argv`` until it prints its first line, the line, the process."""
    started = time.perf_counter()
    process = subprocess.Popen(
        argv, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True, env=subprocess_env()
    )
    assert process.stdout is not None
    line = process.stdout.readline()
    return time.perf_counter() - started, line, process


def _end(process: subprocess.Popen[str]) -> None:
    process.terminate()
    process.wait(10)


def _python_start() -> float:
    took, line, process = _first_line([python(), "-c", _BASELINE])
    _end(process)
    if line.strip() != "ready":
        raise RuntimeError(f"the baseline did not start: {line!r}")
    return took


def _serve_start() -> tuple[float, float]:
    """Seconds until ``serve`` prints its URL (it listens), and until a first session is
    answered (``session.created``: what a session needs is built once the server listens)."""
    from websockets.sync.client import connect

    started = time.perf_counter()
    took, line, process = _first_line([python(), "-m", "harness.cli", "serve", "--port", "0"])
    try:
        match = re.search(r"ws://\S+", line)
        if "listening on" not in line or match is None:
            raise RuntimeError(f"realtime-mock serve did not start: {line!r}")
        key = {"Authorization": "Bearer sk-bench"}
        with connect(match.group(0), additional_headers=key, open_timeout=10) as ws:
            ws.recv(timeout=10)
        answered = time.perf_counter() - started
    finally:
        _end(process)
    return took, answered


def _compile_the_project() -> None:
    import mock_server

    root = Path(mock_server.__file__).resolve().parent.parent  # the packages are siblings
    for package in ("mock_server", "harness", "realtime_mock"):
        if (root / package).is_dir():
            compileall.compile_dir(root / package, quiet=1)


def run(runs: int = 5) -> list[Row]:
    from mock_server.scenario.lint import lint_paths, scenario_files

    _compile_the_project()
    # Interleaved, baseline then serve, each the best of the runs.
    bases, serves, firsts = [], [], []
    for _ in range(max(1, runs)):
        bases.append(_python_start())
        listening, answered = _serve_start()
        serves.append(listening)
        firsts.append(answered)
    base, serve, first = min(bases), min(serves), min(firsts)
    files = scenario_files([str(LIBRARY)])
    lint_paths([str(LIBRARY)])  # warm up the imports and the model's validators
    lint = best_of(lambda: lint_paths([str(LIBRARY)]), runs)
    parse = best_of(lambda: [yaml.safe_load(f.read_text()) for f in files], runs)
    return [
        (
            "serve: start to listening",
            f"{serve * 1000:.0f} ms",
            f"{base * 1000:.0f} ms python + websockets import",
            f"{serve / base:.2f}x (target <= 1.5x)",
        ),
        (
            "serve: start to a first session's session.created",
            f"{first * 1000:.0f} ms",
            f"{base * 1000:.0f} ms python + websockets import",
            f"{first / base:.1f}x (reported: the SDK's models load after listening)",
        ),
        (
            f"scenario library: load + lint ({len(files)} files)",
            f"{lint * 1000:.0f} ms ({lint / len(files) * 1000:.1f} ms a file)",
            f"{parse * 1000:.0f} ms yaml.safe_load of the same files",
            f"{lint / parse:.1f}x",
        ),
    ]


if __name__ == "__main__":
    for row in run():
        print(" | ".join(row))
