"""Test cost: what the ``realtime_mock`` pytest fixture adds to a test, vs an empty test.

A temporary folder gets K empty tests, K tests that each take a mock (a mount on the session's
shared server, see harness/pytest_plugin.py) and K that each take a mock playing a library
scenario (loaded and checked per test); one pytest run in a subprocess times them all
(its JUnit XML gives each test's setup + call + teardown). The shared server's start, paid once
by the first test that asks for it, is reported apart. Target: under 5 ms per test.
"""

from __future__ import annotations

import statistics
import subprocess
import tempfile
import textwrap
import xml.etree.ElementTree as ET
from pathlib import Path

from bench import Row, python, subprocess_env

QUICK = {"tests": 100}
TINY = {"tests": 3}

TESTS = """
import pytest


@pytest.mark.parametrize("n", range({k}))
def test_empty(n):
    pass


@pytest.mark.parametrize("n", range({k}))
def test_with_mock(n, realtime_mock):
    mock = realtime_mock()
    assert mock.ws_url


@pytest.mark.parametrize("n", range({k}))
def test_with_scenario(n, realtime_mock):
    mock = realtime_mock("text_turn")
    assert mock.ws_url
"""


def _times(k: int) -> dict[str, list[float]]:
    """Per-test seconds of each kind of test (``test_empty``, ``test_with_mock``, ...)."""
    with tempfile.TemporaryDirectory(prefix="realtime-mock-bench-") as folder:
        root = Path(folder)
        (root / "test_cost.py").write_text(textwrap.dedent(TESTS.format(k=k)))
        report = root / "report.xml"
        subprocess.run(
            [
                python(),
                "-m",
                "pytest",
                "-q",
                "-p",
                "no:cacheprovider",
                "-p",
                "no:randomly",
                f"--junitxml={report}",
                f"--rootdir={root}",
                # The scenario tests never connect: no verdict to fail them on.
                "--realtime-mock-lenient",
                str(root / "test_cost.py"),
            ],
            cwd=root,
            env=subprocess_env(),
            capture_output=True,
            check=True,
            timeout=300,
        )
        times: dict[str, list[float]] = {}
        for case in ET.parse(report).getroot().iter("testcase"):
            kind = case.get("name", "").split("[")[0]
            times.setdefault(kind, []).append(float(case.get("time", 0)))
    return times


def run(tests: int = 300) -> list[Row]:
    times = _times(tests)
    per_empty = statistics.mean(times["test_empty"])
    rows = []
    for kind, what in (
        ("test_with_mock", "realtime_mock()"),
        ("test_with_scenario", 'realtime_mock("text_turn")'),
    ):
        first, *rest = times[kind]
        per_test = statistics.mean(rest or [first])
        once = (
            f"; the shared server's start: {(first - per_test) * 1000:.0f} ms once"
            if kind == "test_with_mock"
            else ""
        )
        rows.append(
            (
                f"test cost: {what} per test ({tests} tests)",
                f"{per_test * 1000:.2f} ms, +{(per_test - per_empty) * 1000:.2f} ms over an "
                f"empty test (target < 5 ms){once}",
                f"{per_empty * 1000:.2f} ms per empty test",
                f"+{(per_test - per_empty) * 1000:.2f} ms = {(per_test - per_empty) / 0.005:.2f} "
                "of the 5 ms target",
            )
        )
    return rows


if __name__ == "__main__":
    for row in run():
        print(" | ".join(row))
