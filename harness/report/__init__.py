"""An HTML report of connections: look rather than read (``run --html``, the pytest plugin's
``--realtime-mock-html``, ``serve --transcript-dir``).

One self-contained page (no network: styles, script and audio inlined) with, per connection,
the timeline, the verdict's findings linked to their events, the input and reply audio as
waveforms with the VAD's markers and the truncation points, playable, and the audio
diagnostics. :mod:`harness.report.views` computes what is shown, :mod:`harness.report.page`
writes the HTML.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from harness.report.model import ConnectionRecord, Pause, no_pause
from harness.report.page import SectionView, render_page
from harness.report.views import connection_view
from mock_server.redaction import secrets_of
from mock_server.scenario.verdict import ScenarioVerdict
from mock_server.server import Connection


@dataclass
class Section:
    """What one part of a report shows: a scenario's (or a test's) connections and verdict."""

    title: str
    records: list[ConnectionRecord]
    verdict: ScenarioVerdict | None = None
    findings: list[str] = field(default_factory=list)
    ok: bool | None = None


def records_of(
    connections: Iterable[Connection], verdict: ScenarioVerdict | None = None
) -> list[ConnectionRecord]:
    """A report's records of ``connections``, each with its verdict from ``verdict`` and the
    keys its page must not show."""
    verdicts = {v.connection: v for v in verdict.connections} if verdict is not None else {}
    records = []
    for connection in connections:
        transcript = connection.transcript
        tape = transcript.input_audio
        records.append(
            ConnectionRecord(
                number=connection.number,
                transcript=transcript,
                verdict=verdicts.get(connection.number),
                input_audio=bytes(tape) if tape is not None else None,
                secrets=secrets_of(connection),
            )
        )
    return records


def render_report(
    sections: Sequence[Section], *, title: str, summary: str = "", pause: Pause = no_pause
) -> str:
    """The page of ``sections``, as HTML text (``pause`` is called between pieces of work)."""
    views = []
    for k, section in enumerate(sections, start=1):
        ok = section.ok
        findings = list(section.findings)
        if section.verdict is not None:
            ok = section.verdict.ok if ok is None else ok and section.verdict.ok
            findings += [f for f in section.verdict.findings if f not in findings]
        views.append(
            SectionView(
                anchor=f"s{k}",
                title=section.title,
                ok=ok,
                findings=findings,
                connections=[
                    connection_view(record, f"s{k}c{record.number}", pause)
                    for record in section.records
                ],
            )
        )
    return render_page(views, title=title, summary=summary)


def write_report(
    path: str | Path, sections: Sequence[Section], *, title: str, summary: str = ""
) -> Path:
    """Write the page of ``sections`` to ``path`` (its folder is made if missing)."""
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text(render_report(sections, title=title, summary=summary), encoding="utf-8")
    return target


__all__ = ["ConnectionRecord", "Section", "records_of", "render_report", "write_report"]
