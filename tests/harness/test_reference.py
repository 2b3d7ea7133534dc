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


async def test_the_demos_barge_in_audio_is_the_answers_first_words(tmp_path: Path) -> None:
    # It was 100 ms of the answer's leading silence: the user talked over it at once.
    from mock_server import audio
    from tests.mock_server.test_speech import is_speech_like, speech_features

    verdict, ctx = await play("barge_in", "ga", out_dir=tmp_path)
    assert verdict.ok, verdict.findings
    (path,) = ctx.audio_written
    pcm = audio.load_wav(path).tobytes()
    assert len(pcm) >= 48 * 1000  # at least a second played before the barge-in
    assert is_speech_like(pcm), speech_features(pcm)


@pytest.mark.parametrize(
    ("name", "flaws", "finding"),
    [
        ("rate_limit_then_success", Flaws(no_backoff=True), "retry-after 1s"),
        ("session_expired", Flaws(no_replay=True), "role"),
        ("reconnect", Flaws(no_replay=True), "role"),
        ("function_call", Flaws(wrong_call_id=True), "call_made_up"),
        ("function_call_parallel", Flaws(wrong_call_id=True), "call_made_up"),
    ],
)
async def test_broken_variants_are_caught(name: str, flaws: Flaws, finding: str) -> None:
    verdict, _ = await play(name, "ga", flaws)
    assert not verdict.ok
    assert finding in "\n".join(verdict.findings)
