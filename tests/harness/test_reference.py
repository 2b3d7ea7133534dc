"""The reference client plays every library scenario; broken variants are caught."""

from __future__ import annotations

from pathlib import Path

import pytest

from harness.reference import DRIVERS, Flaws, dialects, play
from mock_server.scenario.loader import library


def test_there_is_a_driver_for_every_library_scenario() -> None:
    assert set(DRIVERS) == set(library())


@pytest.mark.parametrize(("name", "dialect"), [(n, d) for n in DRIVERS for d in dialects(n)])
async def test_the_reference_client_passes(name: str, dialect: str, tmp_path: Path) -> None:
    verdict, ctx = await play(name, dialect, out_dir=tmp_path)
    assert verdict.ok, verdict.findings
    for path in ctx.audio_written:
        assert path.stat().st_size > 44


@pytest.mark.parametrize(
    ("name", "flaws", "finding"),
    [
        ("rate_limit_then_success", Flaws(no_backoff=True), "retry-after 1s"),
        ("session_expired", Flaws(no_replay=True), "role"),
        ("function_call", Flaws(wrong_call_id=True), "call_made_up"),
        ("function_call_parallel", Flaws(wrong_call_id=True), "call_made_up"),
    ],
)
async def test_broken_variants_are_caught(name: str, flaws: Flaws, finding: str) -> None:
    verdict, _ = await play(name, "ga", flaws)
    assert not verdict.ok
    assert finding in "\n".join(verdict.findings)
