"""The HTML report in a real browser: Debian's Chromium, headless, driven by Playwright.

Each page loads with no console error; the VAD markers sit at the transcript's offsets (read
from the DOM and from the pixels' positions); the audio elements decode and play; findings link
to their events; the filter and the theme work from the keyboard. Screenshots of the three
views (a run's report, one connection, the live page) are saved as test artifacts, in
``$REALTIME_MOCK_ARTIFACTS`` (default: the test's tmp folder); docs/images/ holds copies.

Where Chromium or Playwright is missing the tests skip, except in CI (``CI`` set), where
``.ci/run`` installs Chromium: there a missing browser fails.
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from harness.live_page import LivePage
from harness.reference import Flaws, play
from harness.report import Section, records_of, write_report
from mock_server.server import MockServer, Mount
from tests.helpers import CHROMIUM, KEY, WAIT, playwright_or_skip, recv


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    sync_playwright = playwright_or_skip()
    with sync_playwright() as driver:
        instance = driver.chromium.launch(
            executable_path=CHROMIUM,
            args=["--no-sandbox", "--autoplay-policy=no-user-gesture-required"],
        )
        try:
            yield instance
        finally:
            instance.close()


@pytest.fixture
def artifacts(tmp_path: Path) -> Path:
    folder = Path(os.environ.get("REALTIME_MOCK_ARTIFACTS") or tmp_path)
    folder.mkdir(parents=True, exist_ok=True)
    return folder


class Opened:
    """A page, with every console error and uncaught exception it produced."""

    def __init__(self, browser: Any, url: str, scheme: str = "light") -> None:
        self.page = browser.new_page(viewport={"width": 1280, "height": 900}, color_scheme=scheme)
        self.errors: list[str] = []
        self.page.on("console", lambda m: self.errors.append(m.text) if m.type == "error" else None)
        self.page.on("pageerror", lambda e: self.errors.append(str(e)))
        self.page.goto(url)
        self.page.wait_for_selector("html[data-ready=true]", timeout=WAIT * 1000)


def _off_the_browsers_loop(work: Any) -> Any:
    """``asyncio.run(work())`` in a thread of its own (Playwright's sync API holds a loop)."""
    import concurrent.futures

    with concurrent.futures.ThreadPoolExecutor(1) as pool:
        return pool.submit(lambda: asyncio.run(work())).result(timeout=120)


def _report(path: Path) -> tuple[Path, dict[str, Any]]:
    """A report of four library scenarios (a VAD cut-off, barge-in, audio, a failing
    function-call client), and their transcripts' VAD offsets."""

    async def played() -> tuple[list[Section], dict[str, Any]]:
        sections, offsets = [], {}
        for name, flaws in [
            ("vad_cut_off", None),
            ("barge_in", None),
            ("audio_vad", None),
            ("function_call", Flaws(wrong_call_id=True)),
        ]:
            verdict, ctx = await play(name, "ga", flaws, keep_input_audio=True)
            sections.append(Section(name, records_of(ctx.connections, verdict), verdict))
            events = [e for c in ctx.connections for e in c.transcript.server_events()]
            offsets[name] = {
                "started": [
                    e["audio_start_ms"]
                    for e in events
                    if e["type"].endswith("started") and "audio_start_ms" in e
                ],
                "stopped": [
                    e["audio_end_ms"]
                    for e in events
                    if e["type"].endswith("stopped") and "audio_end_ms" in e
                ],
            }
        return sections, offsets

    sections, offsets = _off_the_browsers_loop(played)
    return write_report(path, sections, title="realtime-mock run"), offsets


@pytest.fixture(scope="module")
def report(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, Any]]:
    return _report(tmp_path_factory.mktemp("report") / "report.html")


def test_the_report_loads_clean_and_its_markers_sit_at_the_vad_offsets(
    browser: Any, report: tuple[Path, dict[str, Any]], artifacts: Path
) -> None:
    path, offsets = report
    opened = Opened(browser, path.as_uri())
    page = opened.page
    assert opened.errors == []
    for k, name in enumerate(["vad_cut_off", "barge_in", "audio_vad"], start=1):
        figure = f"#s{k}c1-input"
        started = page.eval_on_selector_all(
            f"{figure} .marker.speech_started", "els => els.map(e => Number(e.dataset.ms))"
        )
        stopped = page.eval_on_selector_all(
            f"{figure} .marker.speech_stopped", "els => els.map(e => Number(e.dataset.ms))"
        )
        assert started == offsets[name]["started"], name
        assert stopped == offsets[name]["stopped"], name
        # Drawn where they say: the marker's pixel offset over the plot's width is its share
        # of the audio's duration.
        placed = page.eval_on_selector_all(
            f"{figure} .marker.speech_started",
            """els => els.map(e => {
                const plot = e.parentElement.getBoundingClientRect();
                const box = e.getBoundingClientRect();
                const duration = Number(e.closest('figure').dataset.durationMs);
                return [(box.left + box.width / 2 - plot.left) / plot.width,
                        Number(e.dataset.ms) / duration];
            })""",
        )
        for drawn, share in placed:
            assert abs(drawn - share) < 0.01, (name, drawn, share)
        # The waveform was drawn: the canvas has dark and light pixels.
        inked = page.eval_on_selector(
            f"{figure} canvas",
            """c => {
                const d = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;
                let n = 0;
                for (let i = 3; i < d.length; i += 4) n += d[i] > 0;
                return n;
            }""",
        )
        assert inked > 100, name
    page.screenshot(path=str(artifacts / "report-run.png"))
    page.locator("#s1c1").screenshot(path=str(artifacts / "report-connection.png"))
    dark = Opened(browser, path.as_uri(), scheme="dark")
    assert dark.errors == []
    background = dark.page.evaluate("getComputedStyle(document.body).backgroundColor")
    assert background == "rgb(13, 17, 23)"
    dark.page.close()
    page.close()


def test_the_audio_elements_decode_and_play(
    browser: Any, report: tuple[Path, dict[str, Any]]
) -> None:
    path, _ = report
    opened = Opened(browser, path.as_uri())
    page = opened.page
    players = page.eval_on_selector_all("audio", "els => els.map(e => e.id)")
    assert len(players) >= 6
    for player in players:
        played = page.evaluate(
            """async (id) => {
                const a = document.getElementById(id);
                a.muted = true;
                if (a.readyState < 1) await new Promise((ok, bad) => {
                    a.addEventListener('loadedmetadata', ok, { once: true });
                    const failed = () => bad(new Error('decode failed'));
                    a.addEventListener('error', failed, { once: true });
                });
                await a.play();
                const start = performance.now();
                while (a.currentTime === 0 && performance.now() - start < 5000)
                    await new Promise(r => setTimeout(r, 20));
                a.pause();
                return [a.duration, a.currentTime, a.error && a.error.code];
            }""",
            player,
        )
        duration, position, error = played
        assert error is None and duration > 0, (player, played)
        assert position > 0, (player, played)
    assert opened.errors == []
    page.close()


def test_findings_link_to_their_events_and_the_timeline_filters(
    browser: Any, report: tuple[Path, dict[str, Any]]
) -> None:
    path, _ = report
    opened = Opened(browser, path.as_uri())
    page = opened.page
    links = page.locator("#s4 a.finding-link")
    assert links.count() >= 1
    target = links.first.get_attribute("href")
    assert target is not None
    links.first.focus()
    page.keyboard.press("Enter")  # by keyboard
    row = page.locator(target)
    assert row.is_visible()
    assert row.locator("details").get_attribute("open") is not None
    assert "call_made_up" in row.inner_text() or "call_made_up" in links.first.inner_text()
    # The filter: only the rows of the type typed stay.
    section = page.locator("#s4c1")
    section.locator("input.filter-type").fill("response.done")
    visible = section.locator("ol.timeline > li:not([hidden])")
    types = visible.evaluate_all("els => els.map(e => e.dataset.type)")
    assert types and set(types) == {"response.done"}
    section.locator("input.filter-dir[value=server]").uncheck()
    assert section.locator("ol.timeline > li:not([hidden])").count() == 0
    # The theme switch, by keyboard.
    page.locator("#theme").focus()
    page.keyboard.press("Enter")
    assert page.evaluate("document.documentElement.dataset.theme") == "dark"
    assert opened.errors == []
    page.close()


def test_the_live_page_lists_connections_and_opens_a_view(browser: Any, artifacts: Path) -> None:
    import threading

    from websockets.asyncio.client import connect

    ready = threading.Event()
    done = threading.Event()
    state: dict[str, Any] = {}

    async def serve() -> None:
        mount = Mount(pace=0.0, keep_input_audio=True)
        async with MockServer(port=0, default_mount=mount, keep_ended=0) as server:
            live = LivePage(server)
            live.install()
            server.on_connection_end = live
            for _ in range(2):
                async with connect(server.ws_url, additional_headers=KEY) as ws:
                    await recv(ws)
            await server.wait_for_sessions(at_most=0, timeout=WAIT)
            state["base"] = f"http://127.0.0.1:{server.port}/_mock/"
            ready.set()
            await asyncio.to_thread(done.wait, WAIT * 3)

    thread = threading.Thread(target=lambda: asyncio.run(serve()), daemon=True)
    thread.start()
    try:
        assert ready.wait(WAIT * 2)
        opened = Opened(browser, state["base"])
        page = opened.page
        page.wait_for_selector("#rows a", timeout=WAIT * 1000)
        assert page.locator("#rows tr").count() == 2
        page.screenshot(path=str(artifacts / "report-live.png"))
        page.locator("#rows a").first.click()
        page.wait_for_selector("html[data-ready=true]", timeout=WAIT * 1000)
        assert "session.created" in page.inner_text("ol.timeline")
        assert opened.errors == []
        page.close()
    finally:
        done.set()
        thread.join(WAIT * 2)
