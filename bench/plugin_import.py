"""Import cost of the pytest plugin in a pytest run that does not use it.

The plugin is registered through the ``pytest11`` entry point, so every pytest run in a venv
where realtime-mock is installed imports it. The target is under 50 ms over importing pytest
alone; the plugin module imports nothing heavy (no openai, pydantic, numpy, websockets) until a
test uses the fixture. Measured in fresh interpreters: the time to import the plugin after
pytest, against the time to import pytest itself (the baseline, in the same interpreter); the
best of several runs.
"""

from __future__ import annotations

import subprocess
import tempfile

from bench import Row, python, subprocess_env

QUICK = {"runs": 5}
TINY = {"runs": 1}
TARGET_MS = 50.0


_PROBE = """
import time
start = time.perf_counter()
import pytest
middle = time.perf_counter()
import harness.pytest_plugin
end = time.perf_counter()
print(middle - start, end - middle)
"""


def _probe() -> tuple[float, float]:
    """Seconds to import pytest, then the plugin, in one fresh interpreter."""
    # From a neutral folder: `python -c` puts the current directory first on the path.
    out = subprocess.run(
        [python(), "-c", _PROBE],
        check=True,
        env=subprocess_env(),
        capture_output=True,
        text=True,
        cwd=tempfile.gettempdir(),
    ).stdout.split()
    return float(out[0]), float(out[1])


def run(runs: int = 10) -> list[Row]:
    probes = [_probe() for _ in range(max(1, runs))]
    pytest_alone = min(p[0] for p in probes)
    plugin = min(p[1] for p in probes)
    verdict = "ok" if plugin * 1000 < TARGET_MS else "OVER"
    return [
        (
            "pytest plugin import (unused)",
            f"{plugin * 1000:.1f} ms",
            f"{pytest_alone * 1000:.0f} ms import pytest",
            f"{plugin / pytest_alone:.3f}x; target < {TARGET_MS:.0f} ms: {verdict}",
        )
    ]


if __name__ == "__main__":
    for row in run():
        print(" | ".join(row))
