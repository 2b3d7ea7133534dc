"""``realtime-mock demo``'s last words: what to do next."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from harness import demo
from harness.reference import DRIVERS


def test_the_demo_ends_by_saying_what_to_do_next(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    # One scenario in one dialect is enough to see how the output ends.
    monkeypatch.setattr(demo, "DRIVERS", {"text_turn": DRIVERS["text_turn"]})
    assert asyncio.run(demo.run_demo(str(tmp_path), only_dialect="ga")) == 0
    last = capsys.readouterr().out.rstrip().splitlines()[-1]
    assert last.startswith("next:")
    assert "realtime-mock serve" in last and "realtime_mock" in last
