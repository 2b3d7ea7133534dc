"""The HTML report, read as HTML: library scenarios rendered, bounded, self-contained, redacted;
``run --html``, the plugin's ``--realtime-mock-html``, ``serve --transcript-dir`` and the live
page. (tests/harness/test_report_browser.py opens the pages in a real browser.)"""

from __future__ import annotations

import asyncio
import base64
import re
import subprocess
import sys
import urllib.error
import urllib.request
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from websockets.asyncio.client import connect
from websockets.datastructures import Headers

from harness.live_page import LivePage
from harness.reference import Flaws, play
from harness.report import ConnectionRecord, Section, records_of, render_report
from harness.report.model import ENVELOPE_POINTS, MAX_ROWS
from harness.report.waveforms import embedded, envelope
from harness.transcript_files import TranscriptFiles
from mock_server.protocol.http import HttpRequest
from mock_server.server import MockServer, Mount
from mock_server.transcript import Transcript
from tests.helpers import KEY, WAIT, recv, recv_until, send, user_message

pytest_plugins = ["pytester"]


class Page(HTMLParser):
    """The elements of a page by their attributes (enough to check structure)."""

    def __init__(self, text: str) -> None:
        super().__init__()
        self.elements: list[tuple[str, dict[str, str]]] = []
        self.feed(text)

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.elements.append((tag, {k: v or "" for k, v in attrs}))

    def with_class(self, name: str) -> list[dict[str, str]]:
        return [a for _, a in self.elements if name in a.get("class", "").split()]

    def ids(self) -> set[str]:
        return {a["id"] for _, a in self.elements if "id" in a}


async def report_of(name: str, flaws: Flaws | None = None) -> tuple[str, list[Transcript]]:
    verdict, ctx = await play(name, "ga", flaws, keep_input_audio=True)
    sections = [Section(name, records_of(ctx.connections, verdict), verdict)]
    return render_report(sections, title=name), [c.transcript for c in ctx.connections]


async def test_vad_markers_sit_at_the_transcripts_offsets() -> None:
    text, transcripts = await report_of("vad_cut_off")
    page = Page(text)
    events = [e for t in transcripts for e in t.server_events()]
    started = [e["audio_start_ms"] for e in events if e["type"].endswith("speech_started")]
    stopped = [e["audio_end_ms"] for e in events if e["type"].endswith("speech_stopped")]
    assert started and stopped
    assert [float(m["data-ms"]) for m in page.with_class("speech_started")] == started
    assert [float(m["data-ms"]) for m in page.with_class("speech_stopped")] == stopped
    spans = page.with_class("committed")
    assert [(float(s["data-start-ms"]), float(s["data-end-ms"])) for s in spans] == list(
        zip(started, stopped, strict=True)
    )
    # The silence the VAD waited for ends where it stopped the turn.
    silences = page.with_class("silence")
    assert [float(s["data-end-ms"]) for s in silences] == stopped
    # Input audio: as long as what the client appended, embedded and playable.
    sent = sum(
        len(base64.b64decode(e["audio"]))
        for t in transcripts
        for e in t.client_events("input_audio_buffer.append")
        if not e["audio"].startswith("<elided")
    )
    figure = next(a for _, a in page.elements if a.get("id", "").endswith("-input"))
    kept = transcripts[0].input_audio
    assert kept is not None and len(kept) >= sent
    assert float(figure["data-duration-ms"]) == pytest.approx(len(kept) / 48, abs=0.1)
    audio = [a for tag, a in page.elements if tag == "audio"]
    assert {a["data-mime"] for a in audio} == {"audio/wav"}


async def test_barge_in_shows_the_truncation_on_the_reply() -> None:
    text, transcripts = await report_of("barge_in")
    page = Page(text)
    truncates = [e for t in transcripts for e in t.client_events("conversation.item.truncate")]
    assert truncates
    markers = page.with_class("truncate")
    assert len(markers) == len(truncates)
    ends = [float(m["data-ms"]) for m in markers]
    assert ends[0] >= truncates[0]["audio_end_ms"]  # at the item's offset in the reply audio


async def test_a_failing_clients_findings_link_to_the_events_they_name() -> None:
    text, _ = await report_of("function_call", Flaws(wrong_call_id=True))
    page = Page(text)
    findings = page.with_class("finding-link")
    assert findings, "the wrong call_id is a finding"
    ids = page.ids()
    for link in findings:
        assert link["href"].startswith("#") and link["href"][1:] in ids
    assert 'class="badge bad"' in text
    assert "call_made_up" in text


async def test_the_page_is_self_contained() -> None:
    text, _ = await report_of("audio_vad")
    page = Page(text)
    for tag, attrs in page.elements:
        for name in ("src", "href"):
            value = attrs.get(name, "")
            assert not re.match(r"^(https?:)?//", value), (tag, attrs)
        assert not (tag == "link" and attrs.get("rel") == "stylesheet"), "styles are inlined"
    assert "default-src 'none'" in text  # and the page says so to the browser


def test_a_huge_connection_stays_bounded_and_findings_keep_their_rows() -> None:
    transcript = Transcript()
    chunk = base64.b64encode(bytes(4800)).decode()
    for n in range(30_000):
        transcript.add(
            n / 100,
            "client",
            "input_audio_buffer.append",
            event={"type": "input_audio_buffer.append", "audio": chunk, "event_id": f"evt_{n}"},
        )
        transcript.add(
            n / 100,
            "server",
            "input_audio_buffer.speech_started",
            event={
                "type": "input_audio_buffer.speech_started",
                "audio_start_ms": n,
                "item_id": "x",
            },
        )
    from mock_server.transcript import Finding

    finding = Finding("malformed_frame", "broken", 150.0, "evt_15000")
    transcript.add(150.0, "note", "finding", note="broken", finding=finding)
    record = ConnectionRecord(1, transcript, None, bytes(48000 * 10))
    page = Page(render_report([Section("huge", [record])], title="huge"))
    rows = [a for tag, a in page.elements if tag == "li" and "data-dir" in a]
    assert len(rows) <= MAX_ROWS + 3
    link = page.with_class("finding-link")[0]["href"][1:]
    assert link in {r["id"] for r in rows}


def test_the_envelope_and_long_audio_are_bounded() -> None:
    hour = np.zeros(24000 * 3600, dtype="<i2")
    hour[::7] = 1000
    points = envelope(hour.tobytes())
    assert len(points) == 2 * ENVELOPE_POINTS
    mime, data, note = embedded(hour.tobytes())
    assert mime == "audio/x-mulaw-8k" and "8 kHz" in note
    assert len(data) == pytest.approx(8000 * 3600 * 4 / 3, rel=0.01)  # 8 kHz, a byte a sample


def test_keys_never_reach_the_page() -> None:
    transcript = Transcript()
    transcript.add(
        0.0,
        "client",
        "session.update",
        event={
            "type": "session.update",
            "session": {"instructions": "my key is sk-test-VERYSECRET1"},
        },
    )
    record = ConnectionRecord(1, transcript, secrets=("sk-test-VERYSECRET1",))
    text = render_report([Section("s", [record])], title="t")
    assert "VERYSECRET1" not in text and "<redacted>" in html_unescape(text)


def html_unescape(text: str) -> str:
    import html

    return html.unescape(text)


# ---- where users get it ---------------------------------------------------------------------

GOOD = """
import asyncio, os
from harness.client import ClientConfig, RealtimeClient

async def main():
    config = ClientConfig(url=os.environ["REALTIME_MOCK_URL"], api_key=os.environ["OPENAI_API_KEY"],
                          session={"output_modalities": ["text"]})
    async with RealtimeClient(config) as client:
        await client.say("Hello?")

asyncio.run(main())
"""


def test_run_writes_an_html_report(tmp_path: Path) -> None:
    script = tmp_path / "client.py"
    script.write_text(GOOD)
    report = tmp_path / "out" / "report.html"
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "harness.cli",
            "run",
            "--scenario",
            "text_turn",
            "--html",
            str(report),
            "--timeout",
            "30",
            "--",
            sys.executable,
            str(script),
        ],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert f"HTML report written to {report}" in result.stdout
    page = Page(report.read_text())
    assert [a["id"] for _, a in page.elements if a.get("class") == "section"] == ["s1"]
    assert "text_turn" in report.read_text() and "1 of 1 scenarios passed" in report.read_text()


def test_the_plugin_writes_a_page_for_a_failing_test_and_names_it(
    pytester: pytest.Pytester,
) -> None:
    pytester.makepyfile(
        """
        from openai import OpenAI

        def test_never_asks(realtime_mock):
            mock = realtime_mock(timeout=2)
            mock.expect("response.create").respond(text="Hi")
            client = OpenAI(api_key=mock.api_key, base_url=mock.base_url)
            with client.realtime.connect(model="gpt-realtime") as conn:
                conn.session.update(session={"type": "realtime", "output_modalities": ["text"]})
                for event in conn:
                    if event.type == "session.updated":
                        break

        def test_fine(realtime_mock):
            realtime_mock()
        """
    )
    out = pytester.path / "html"
    result = pytester.runpytest_subprocess(
        "-p", "no:cacheprovider", "--timeout=60", f"--realtime-mock-html={out}"
    )
    result.assert_outcomes(failed=1, passed=1)
    pages = sorted(out.glob("*.html"))
    assert [p.name for p in pages] == [
        "test_the_plugin_writes_a_page_for_a_failing_test_and_names_it.py_test_never_asks.html"
    ]
    result.stdout.fnmatch_lines([f"*realtime-mock report: {pages[0]}*"])
    assert "response.create" in pages[0].read_text()
    everything = pytester.runpytest_subprocess(
        "-p",
        "no:cacheprovider",
        "--timeout=60",
        f"--realtime-mock-html={out}",
        "--realtime-mock-html-all",
        "-k",
        "fine",
    )
    everything.assert_outcomes(passed=1)
    assert len(list(out.glob("*test_fine.html"))) == 1


def test_transcript_files_write_the_report_beside_each_transcript(tmp_path: Path) -> None:
    async def one_connection() -> Any:
        async with MockServer(port=0, default_mount=Mount(pace=0.0, keep_input_audio=True)) as s:
            async with connect(s.ws_url, additional_headers=KEY) as ws:
                await recv(ws)
                chunk = base64.b64encode(bytes(4800)).decode()
                await send(ws, {"type": "input_audio_buffer.append", "audio": chunk})
                await send(ws, {"type": "conversation.item.create", "item": user_message("hi")})
                await recv_until(ws, "conversation.item.done")
            await s.wait_for_sessions(at_most=0, timeout=WAIT)
            return s.connections[0]

    connection = asyncio.run(one_connection())
    files = TranscriptFiles(tmp_path, html=True)
    files(connection)
    files.close()
    assert not files.failures
    assert sorted(p.name for p in tmp_path.iterdir()) == [
        "connection-0001.html",
        "connection-0001.json",
    ]
    page = Page((tmp_path / "connection-0001.html").read_text())
    figure = next(a for _, a in page.elements if a.get("id", "").endswith("-input"))
    assert float(figure["data-duration-ms"]) == pytest.approx(100.0)


def _get(url: str) -> tuple[int, str]:
    try:
        with urllib.request.urlopen(url, timeout=WAIT) as answer:
            return answer.status, answer.read().decode()
    except urllib.error.HTTPError as error:
        return error.code, error.read().decode()


async def test_the_live_page_lists_connections_and_opens_each_view() -> None:
    async with MockServer(
        port=0, default_mount=Mount(pace=0.0, keep_input_audio=True), keep_ended=0
    ) as server:
        live = LivePage(server)
        live.install()
        server.on_connection_end = live
        base = f"http://127.0.0.1:{server.port}/_mock"
        async with connect(server.ws_url, additional_headers=KEY) as ws:
            await recv(ws)
            status, listing = await asyncio.to_thread(_get, f"{base}/view.json")
            assert status == 200 and '"state": "open"' in listing
        await server.wait_for_sessions(at_most=0, timeout=WAIT)
        status, index = await asyncio.to_thread(_get, f"{base}/")
        assert status == 200 and "realtime-mock: connections" in index
        status, listing = await asyncio.to_thread(_get, f"{base}/view.json")
        assert status == 200 and '"state": "ended"' in listing
        status, view = await asyncio.to_thread(_get, f"{base}/view/1")
        assert status == 200 and "session.created" in view
        status, missing = await asyncio.to_thread(_get, f"{base}/view/7")
        assert status == 404 and "No connection '7'" in missing


async def test_the_live_page_refuses_clients_off_loopback() -> None:
    async with MockServer(port=0) as server:
        live = LivePage(server)
        live.install()
        handler = server.http_routes.find("/_mock/")
        assert handler is not None
        answer = await handler(HttpRequest("GET", "/_mock/", Headers(), peer="10.1.2.3"))
        assert answer.status_code == 403
        answer = await handler(HttpRequest("GET", "/_mock/", Headers(), peer="127.0.0.1"))
        assert answer.status_code == 200
