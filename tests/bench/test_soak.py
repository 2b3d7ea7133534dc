"""The soak script runs, and a short soak finds no error and leaves no task."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_a_short_soak_is_clean() -> None:
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "bench.soak",
            "--sessions",
            "6",
            "--turns",
            "3",
            "--concurrency",
            "3",
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "soak: 6 sessions x 3 turns" in result.stdout
    assert "errors: 0" in result.stdout
    assert "asyncio tasks left after the last session: 0" in result.stdout
