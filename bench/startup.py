"""Start-up and load: ``realtime-mock serve`` until it listens, and the scenario library's lint.

Serve: from starting the process to its first line (printed once it listens and handles
signals), vs a bare ``python -c "import websockets.asyncio.server"``. Lint: loading and
checking every scenario of ``scenarios/`` in process (what ``realtime-mock lint scenarios/``
does), vs only parsing the same files with ``yaml.safe_load``.
"""

from __future__ import annotations

import subprocess

import yaml

from bench import Row, best_of, python, subprocess_env
from mock_server import resources

QUICK = {"runs": 3}
TINY = {"runs": 1}
LIBRARY = resources.SCENARIOS


def _python_start() -> None:
    subprocess.run([python(), "-c", "import websockets.asyncio.server"], check=True)


def _serve_start() -> None:
    process = subprocess.Popen(
        [python(), "-m", "harness.cli", "serve", "--port", "0"],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
        env=subprocess_env(),
    )
    assert process.stdout is not None
    line = process.stdout.readline()
    process.terminate()
    process.wait(10)
    if "listening on" not in line:
        raise RuntimeError(f"realtime-mock serve did not start: {line!r}")


def run(runs: int = 5) -> list[Row]:
    from mock_server.scenario.lint import lint_paths, scenario_files

    base = best_of(_python_start, runs)
    serve = best_of(_serve_start, runs)
    files = scenario_files([str(LIBRARY)])
    lint_paths([str(LIBRARY)])  # warm up the imports and the model's validators
    lint = best_of(lambda: lint_paths([str(LIBRARY)]), runs)
    parse = best_of(lambda: [yaml.safe_load(f.read_text()) for f in files], runs)
    return [
        (
            "serve: start to listening",
            f"{serve * 1000:.0f} ms",
            f"{base * 1000:.0f} ms python + websockets import",
            f"{serve / base:.1f}x",
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
