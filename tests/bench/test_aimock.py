"""The aimock benchmark's skip path and wiring, without node, npm or the network.

The measurement itself (npm install, node) runs only under ``python -m bench``; here nothing
is installed: a missing tool and a failing ``npm`` must each give a row that says why.
"""

from __future__ import annotations

import shutil
import sys
from pathlib import Path

import pytest

from bench import aimock
from bench.__main__ import BENCHMARKS, build_parser


def test_it_is_registered_and_named_in_the_help() -> None:
    assert "bench.aimock" in BENCHMARKS
    assert "aimock" in build_parser().format_help()


@pytest.mark.parametrize(
    ("node", "npm", "missing"),
    [("", "npm", "node"), ("/no/such/node", "npm", "node"), (sys.executable, "", "npm")],
)
def test_a_missing_tool_is_a_reason_not_an_exception(node: str, npm: str, missing: str) -> None:
    why = aimock.unavailable(node, npm)
    assert why is not None and why.startswith("aimock skipped") and f"{missing} not found" in why


def test_tools_on_the_path_are_available() -> None:
    # Any two executables do: only their presence is checked here.
    assert aimock.unavailable(sys.executable, sys.executable) is None


@pytest.mark.skipif(shutil.which("false") is None, reason="needs a `false` command")
def test_a_failing_install_is_a_reason_naming_the_package_and_version(tmp_path: Path) -> None:
    why = aimock.install(tmp_path, "1.43.0", str(shutil.which("false")))
    assert isinstance(why, str)
    assert why.startswith("aimock skipped") and "@copilotkit/aimock@1.43.0" in why


def test_the_rows_of_a_skipped_aimock_carry_the_mock_figures_and_the_reason() -> None:
    mock = [aimock.Measured("mock", 100, 0.5, 0.08, 1500, 0, "Hi.", 0.05)]
    rows = aimock.rows_of(mock, "aimock skipped: node not found (x)", "50 sessions x 20 turns")
    assert [r[2] for r in rows] == ["aimock skipped: node not found (x)"] * len(rows)
    assert rows[0][1].startswith("mock 0.800 ms") and rows[1][1].startswith("mock 200 turns/s")
    assert rows[2][1].startswith("mock 15.0 events")


def test_the_ratio_is_the_mock_over_aimock_from_the_same_rounds() -> None:
    mock = [aimock.Measured("mock", 100, 1.0, 0.1, 1500, 0, "Hi.", 0.05)]
    peer = [aimock.Measured("aimock", 100, 0.5, 0.05, 1000, 0, "Hi.", 0.05)]
    rows = aimock.rows_of(mock, peer, "label")
    assert [r[3].split("x ")[0] for r in rows] == ["2.00", "0.50", "1.50", "1.00"]


def test_the_load_generator_parses_its_arguments(monkeypatch: pytest.MonkeyPatch) -> None:
    seen: list[tuple[str, int, int]] = []

    async def load(url: str, sessions: int, turns: int, go: object) -> dict[str, object]:
        seen.append((url, sessions, turns))
        return {}

    monkeypatch.setattr(aimock, "_load", load)
    monkeypatch.setattr(aimock, "pin", lambda core: None)
    monkeypatch.setattr(
        sys, "argv", ["bench.aimock", "load", "ws://127.0.0.1:1/v1/realtime", "3", "4"]
    )
    aimock.main()
    assert seen == [("ws://127.0.0.1:1/v1/realtime", 3, 4)]
