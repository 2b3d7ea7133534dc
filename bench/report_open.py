"""Report opening: how long an hour-long session's HTML report takes to open in a real browser.

A sans-I/O :class:`~mock_server.session.session.Session` (``pace=0``) is fed ``minutes`` of
the monologue fixture as 100 ms appends with server VAD (every turn answered with the canned
model's audio), its input audio kept as a report keeps it. Its report (:mod:`harness.report`)
is written, and opened in headless Chromium (Debian's, through Playwright): measured from
navigation to the page's ``data-ready`` mark (parsed, script run, waveforms drawn), best of
three. The baseline, from the same run, is the report of a one-minute session. Target: under
2 s for 60 minutes. Where Chromium or Playwright is missing the row says so.

    python -m bench.report_open                # a 60-minute session
"""

from __future__ import annotations

import argparse
import base64
import json
import shutil
import tempfile
import time
from pathlib import Path

from bench import Row, monologue
from harness.report import ConnectionRecord, Section, write_report
from mock_server import audio
from mock_server.protocol.events import Dialect
from mock_server.session.options import SessionOptions
from mock_server.session.session import Session

QUICK = {"minutes": 10.0}
TINY = {"minutes": 0.2, "baseline_minutes": 0.1, "runs": 1}
CHUNK_MS = 100


def session_report(minutes: float, folder: Path) -> tuple[Path, float]:
    """(the report of a ``minutes``-long VAD session, seconds it took to write)."""
    pcm = monologue(min(minutes, 1.0) * 60)
    pieces = audio.chunk(pcm, CHUNK_MS)
    frames = [
        json.dumps({"type": "input_audio_buffer.append", "audio": base64.b64encode(p).decode()})
        for p in pieces
    ]
    session = Session(SessionOptions(dialect=Dialect.GA, pace=0.0, max_duration_s=None))
    session.transcript.input_audio = bytearray()
    now = 0.0
    session.open(now)
    update = {"type": "realtime", "audio": {"input": {"turn_detection": {"type": "server_vad"}}}}
    session.receive(json.dumps({"type": "session.update", "session": update}), now)
    session.due(now)
    for n in range(round(minutes * 60_000 / CHUNK_MS)):
        now += CHUNK_MS / 1000
        session.receive(frames[n % len(frames)], now)
        session.due(now)
    record = ConnectionRecord(1, session.transcript, None, bytes(session.transcript.input_audio))
    started = time.perf_counter()
    path = write_report(
        folder / f"report-{minutes:g}min.html",
        [Section(f"{minutes:g}-minute session", [record])],
        title="realtime-mock report",
    )
    return path, time.perf_counter() - started


def open_seconds(path: Path, runs: int) -> float:
    """The best of ``runs`` times to open ``path`` in headless Chromium, until data-ready."""
    from playwright.sync_api import sync_playwright

    best = float("inf")
    with sync_playwright() as driver:
        browser = driver.chromium.launch(
            executable_path=shutil.which("chromium"), args=["--no-sandbox"]
        )
        try:
            for _ in range(runs):
                page = browser.new_page(viewport={"width": 1280, "height": 900})
                started = time.perf_counter()
                page.goto(path.as_uri(), timeout=60_000)
                page.wait_for_selector("html[data-ready=true]", timeout=60_000)
                best = min(best, time.perf_counter() - started)
                page.close()
        finally:
            browser.close()
    return best


def run(minutes: float = 60.0, baseline_minutes: float = 1.0, runs: int = 3) -> list[Row]:
    name = f"report opening ({minutes:g}-min session, headless Chromium)"
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        return [(name, "not available", "playwright is not installed", "-")]
    if shutil.which("chromium") is None:
        return [(name, "not available", "chromium is not installed", "-")]
    with tempfile.TemporaryDirectory() as folder:
        long_path, long_write = session_report(minutes, Path(folder))
        short_path, short_write = session_report(baseline_minutes, Path(folder))
        long_open = open_seconds(long_path, runs)
        short_open = open_seconds(short_path, runs)
        size = long_path.stat().st_size
    return [
        (
            name,
            f"{long_open:.2f} s to open ({size / 1e6:.1f} MB page)",
            f"{short_open:.2f} s for a {baseline_minutes:g}-min session",
            f"{long_open / short_open:.1f}x (target: under 2 s)",
        ),
        (
            f"report writing ({minutes:g}-min session)",
            f"{long_write:.2f} s",
            f"{short_write:.2f} s for a {baseline_minutes:g}-min session",
            f"{long_write / max(short_write, 1e-9):.1f}x",
        ),
    ]


if __name__ == "__main__":
    parser = argparse.ArgumentParser(prog="python -m bench.report_open")
    parser.add_argument("--minutes", type=float, default=60.0, help="the session's length")
    args = parser.parse_args()
    for row in run(args.minutes):
        print(" | ".join(row))
