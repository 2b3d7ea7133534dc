"""What a report shows of one connection, computed from its transcript, verdict and input audio.

A :class:`~harness.report.model.ConnectionView` is plain data (rows, findings, waveforms) that
:mod:`harness.report.page` turns into HTML. The timeline folds runs of appends and audio deltas
into one row and keeps at most :data:`~harness.report.model.MAX_ROWS` rows (those a finding
names always stay).
"""

from __future__ import annotations

import bisect
import json
from collections.abc import Iterable, Sequence
from typing import Any

from harness.report.model import (
    DETAIL_CHARS,
    FOLDED,
    MAX_ROWS,
    PAUSE_EVERY,
    ConnectionRecord,
    ConnectionView,
    FindingView,
    Pause,
    Row,
    audio_size,
    no_pause,
)
from harness.report.waveforms import diagnostics, input_waveform, reply_waveform
from harness.timeline import key_fields
from mock_server.protocol.formats import SAMPLE_RATE
from mock_server.redaction import redact_text
from mock_server.scenario.verdict import ConnectionVerdict
from mock_server.transcript import Entry, Finding, Transcript

# ---- the timeline ---------------------------------------------------------------------------


def _detail(event: dict[str, Any] | None, raw: str | None, note: str | None) -> str:
    if event is None:
        text = note if note is not None else (raw or "")
    else:
        shown = dict(event)
        for name in ("audio", "delta"):
            if name in shown and event.get("type") in FOLDED:
                size = len(shown[name]) if isinstance(shown[name], str) else 0
                shown[name] = f"<{size * 3 // 4} bytes of audio>"
        text = json.dumps(shown, indent=2, ensure_ascii=False, default=str)
    return text if len(text) <= DETAIL_CHARS else text[:DETAIL_CHARS] + "\n... (cut)"


def _summary(entry: Entry) -> str:
    if entry.note is not None:
        return entry.note
    if entry.event is None:
        return (entry.raw or "")[:200]
    key, rest = key_fields(entry.event)
    text = " ".join(key)
    if rest:
        extra = json.dumps(rest, ensure_ascii=False, default=str, separators=(",", ":"))
        text = f"{text} {extra[:160]}{'...' if len(extra) > 160 else ''}".strip()
    return text


def _rows(
    anchor: str, entries: Sequence[Entry], secrets: tuple[str, ...], pause: Pause
) -> tuple[list[Row], dict[str, str], list[str]]:
    """The timeline's rows, the row of each client event id, and each entry's row."""
    rows: list[Row] = []
    by_event_id: dict[str, str] = {}
    row_of_entry: list[str] = []
    fold: Row | None = None
    fold_bytes = 0
    for n, entry in enumerate(entries):
        if n % PAUSE_EVERY == 0:
            pause()
        if fold is not None and entry.type == fold.type and entry.direction == fold.direction:
            fold.count += 1
            fold_bytes += audio_size(entry)
            fold.summary = f"<audio {fold_bytes / (SAMPLE_RATE * 2):.1f} s in {fold.count}>"
            row_of_entry.append(fold.id)
        else:
            row = Row(
                id=f"{anchor}-e{len(rows)}",
                t=entry.t,
                direction=entry.direction,
                type=entry.type,
                summary=redact_text(_summary(entry), secrets),
                detail=redact_text(_detail(entry.event, entry.raw, entry.note), secrets),
            )
            rows.append(row)
            row_of_entry.append(row.id)
            fold, fold_bytes = None, 0
            if entry.type in FOLDED and entry.event is not None:
                fold, fold_bytes = row, audio_size(entry)
        if entry.direction == "client" and entry.event is not None:
            event_id = entry.event.get("event_id")
            if isinstance(event_id, str):
                by_event_id.setdefault(event_id, row_of_entry[-1])
    return rows, by_event_id, row_of_entry


def _bounded(rows: list[Row], keep: set[str]) -> list[Row]:
    if len(rows) <= MAX_ROWS:
        return rows
    half = MAX_ROWS // 2
    middle = [row for row in rows[half:-half] if row.id in keep]
    gap = Row(
        id=f"{rows[0].id.rsplit('-', 1)[0]}-gap",
        t=rows[half].t,
        direction="note",
        type="(rows elided)",
        summary=f"{len(rows) - MAX_ROWS - len(middle)} rows not shown",
        detail="The report keeps the first and last rows of a long connection, and every row a "
        "finding names.",
    )
    return [*rows[:half], gap, *middle, *rows[-half:]]


# ---- findings -------------------------------------------------------------------------------


def _row_at(t: float, times: list[float], row_of_entry: list[str]) -> str | None:
    """The row of the first entry at or after ``t`` (the transcript's times only grow)."""
    at = bisect.bisect_left(times, t)
    if at < len(row_of_entry):
        return row_of_entry[at]
    return row_of_entry[-1] if row_of_entry else None


def _finding_views(
    verdict: ConnectionVerdict | None,
    transcript: Transcript,
    by_event_id: dict[str, str],
    row_of_entry: list[str],
) -> list[FindingView]:
    entries = transcript.entries
    times = [entry.t for entry in entries]
    views: list[FindingView] = []

    def row_of(finding: Finding) -> str | None:
        if finding.event_id and finding.event_id in by_event_id:
            return by_event_id[finding.event_id]
        return _row_at(finding.t, times, row_of_entry)

    mistakes: Iterable[Finding] = (
        verdict.mistakes
        if verdict is not None
        else (e.finding for e in entries if e.finding is not None)
    )
    for finding in mistakes:
        if finding is None:
            continue
        text = f"{finding.kind}: {finding.message}"
        views.append(FindingView(text, finding.severity, row_of(finding), finding.kind))
    if verdict is not None:
        last = row_of_entry[-1] if row_of_entry else None
        for unmet in verdict.unmet:
            views.append(FindingView(f"unmet: {unmet}", "error", last, "unmet"))
        for unexpected in verdict.unexpected:
            event_id = unexpected.event_id if isinstance(unexpected.event_id, str) else None
            row = by_event_id.get(event_id or "") or _row_at(unexpected.t, times, row_of_entry)
            views.append(FindingView(f"unexpected: {unexpected.type}", "error", row, "unexpected"))
        for problem in verdict.problems:
            views.append(FindingView(problem, "error", last, "problem"))
    return views


def connection_view(
    record: ConnectionRecord, anchor: str, pause: Pause = no_pause
) -> ConnectionView:
    """What the page shows of ``record``; ``pause`` is called between bounded pieces of work."""
    transcript = record.transcript
    rows, by_event_id, row_of_entry = _rows(anchor, transcript.entries, record.secrets, pause)
    findings = _finding_views(record.verdict, transcript, by_event_id, row_of_entry)
    for finding in findings:
        finding.text = redact_text(finding.text, record.secrets)
    rows = _bounded(rows, {f.row for f in findings if f.row})
    handshake = transcript.handshake
    where = f"{handshake.path} ({handshake.dialect})" if handshake else ""
    ok = None if record.verdict is None else record.verdict.ok
    if record.verdict is None and any(f.severity == "error" for f in findings):
        ok = False
    closed = ""
    if transcript.closed:
        closed = f"closed {transcript.closed[0]} {transcript.closed[1]}".strip()
    return ConnectionView(
        anchor=anchor,
        number=record.number,
        title=record.label or f"connection {record.number} {where}".strip(),
        ok=ok,
        rows=rows,
        findings=findings,
        input=(
            None
            if not record.input_audio
            else input_waveform(transcript, record.input_audio, pause)
        ),
        reply=reply_waveform(transcript, pause),
        diagnostics=diagnostics(transcript, record.input_audio),
        types=sorted({row.type for row in rows}),
        closed=closed,
        input_note=_input_note(record),
    )


def _input_note(record: ConnectionRecord) -> str:
    if record.input_audio is not None:
        return ""
    if any(e.type == "input_audio_buffer.append" for e in record.transcript.entries):
        return (
            "The client streamed audio, but its input audio was not kept: serve --keep-audio "
            "(or --transcript-dir) keeps it for the report."
        )
    return ""
