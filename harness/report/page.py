"""The HTML of a report: one self-contained page (styles, script and audio inlined; no network).

Per connection: its findings, each a link to the event it names; the input audio's waveform
with the VAD's markers (``speech_started``/``speech_stopped`` at their ``audio_*_ms``), the
committed spans and the ``silence_duration_ms`` the VAD waited for; the reply audio's waveform
with its truncation points; both playable; the audio diagnostics; and the timeline, filterable
by event type and direction, each row expandable to the event itself. Markers and spans carry
their offsets in ``data-ms`` attributes, so that a test (or a person with devtools) can read
them back.
"""

from __future__ import annotations

import html
import json
from collections.abc import Sequence
from dataclasses import dataclass
from importlib import resources

from harness.report.model import ConnectionView, FindingView, Row, Waveform

_LAZY_AUDIO_CHARS = 4 * 1024 * 1024
# Nothing from the network: inline styles and script, audio from data and blob URLs.
_CSP = (
    "default-src 'none'; style-src 'unsafe-inline'; script-src 'unsafe-inline'; "
    "media-src blob: data:; img-src data:"
)
_THEME_BUTTON = '<button type="button" id="theme" aria-label="switch theme">theme</button>'


def _asset(name: str) -> str:
    return resources.files("harness.report").joinpath(name).read_text(encoding="utf-8")


def _e(text: object) -> str:
    return html.escape(str(text), quote=True)


def _script_json(value: object) -> str:
    # Inside <script>, only "</" could end the element early.
    return json.dumps(value, separators=(",", ":")).replace("</", "<\\/")


def _badge(ok: bool | None) -> str:
    if ok is None:
        return '<span class="badge none">no verdict</span>'
    return '<span class="badge ok">ok</span>' if ok else '<span class="badge bad">not ok</span>'


def _percent(ms: float, total: float) -> str:
    return f"{min(100.0, max(0.0, ms / total * 100)) if total > 0 else 0.0:.4f}%"


def _waveform(view: ConnectionView, wave: Waveform, caption: str) -> str:
    prefix = f"{view.anchor}-{wave.name}"
    parts = [
        f'<figure class="wave" id="{prefix}" data-duration-ms="{wave.duration_ms:.1f}">',
        f"<figcaption>{_e(caption)} ({wave.duration_ms / 1000:.2f} s)"
        + (f' <span class="muted">{_e(wave.note)}</span>' if wave.note else "")
        + "</figcaption>",
        f'<div class="plot" role="img" aria-label="{_e(caption)} waveform">',
        f'<script type="application/json" class="envelope">{_script_json(wave.envelope)}</script>',
    ]
    for span in wave.spans:
        left = _percent(span.start_ms, wave.duration_ms)
        width = _percent(span.end_ms - span.start_ms, wave.duration_ms)
        parts.append(
            f'<div class="span {span.kind}" data-start-ms="{span.start_ms:.1f}" '
            f'data-end-ms="{span.end_ms:.1f}" style="left:{left};width:{width}" '
            f'title="{_e(span.label)}"></div>'
        )
    parts.append("<canvas></canvas>")
    for marker in wave.markers:
        parts.append(
            f'<div class="marker {marker.kind}" data-ms="{marker.ms:.1f}" '
            f'style="left:{_percent(marker.ms, wave.duration_ms)}" '
            f'title="{_e(marker.label)}"></div>'
        )
    parts.append("</div>")
    if wave.audio_b64:
        lazy = len(wave.audio_b64) > _LAZY_AUDIO_CHARS
        source = f"{prefix}-audio-data"
        parts.append(
            f'<audio id="{prefix}-audio" controls preload="{"none" if lazy else "auto"}" '
            f'data-source="{source}" data-mime="{wave.audio_mime}" '
            f'data-lazy="{"true" if lazy else "false"}" aria-label="{_e(caption)}"></audio>'
        )
        if lazy:
            parts.append(f'<button type="button" data-load="{prefix}-audio">Load audio</button>')
        parts.append(
            f'<script type="application/octet-stream" id="{source}">{wave.audio_b64}</script>'
        )
    kinds = {m.kind for m in wave.markers} | {s.kind for s in wave.spans}
    legend = [
        ("speech_started", "var(--started)", "speech_started"),
        ("speech_stopped", "var(--stopped)", "speech_stopped"),
        ("committed", "var(--committed)", "committed turn"),
        ("silence", "var(--silence)", "silence_duration_ms"),
        ("truncate", "var(--truncate)", "truncated at"),
        ("reply_start", "var(--reply)", "reply starts"),
    ]
    shown = [
        f'<span><i style="background:{color}"></i>{label}</span>'
        for kind, color, label in legend
        if kind in kinds
    ]
    if shown:
        parts.append(f'<div class="legend">{"".join(shown)}</div>')
    parts.append("</figure>")
    return "\n".join(parts)


def _finding(item: FindingView) -> str:
    text = _e(item.text)
    if item.row:
        text = f'<a class="finding-link" href="#{item.row}">{text}</a>'
    return f'<li class="{_e(item.severity)}" data-kind="{_e(item.kind)}">{text}</li>'


def _row(row: Row, flagged: set[str]) -> str:
    arrow = {"client": "&rarr;", "server": "&larr;", "note": "!!"}.get(row.direction, "")
    many = f' <span class="muted">(&times;{row.count})</span>' if row.count > 1 else ""
    css = ' class="has-finding"' if row.id in flagged else ""
    return (
        f'<li id="{row.id}" data-type="{_e(row.type)}" data-dir="{_e(row.direction)}"'
        f' data-t="{row.t:.3f}"{css}><details><summary><span class="t">{row.t:.3f}s</span> '
        f'<span class="dir {_e(row.direction)}">{arrow}</span> <span class="type">'
        f"{_e(row.type)}</span>{many} {_e(row.summary)}</summary><pre>{_e(row.detail)}</pre>"
        "</details></li>"
    )


def _connection(view: ConnectionView) -> str:
    anchor = view.anchor
    parts = [
        f'<section class="connection" id="{anchor}" aria-labelledby="{anchor}-title">',
        f'<h2 id="{anchor}-title">{_e(view.title)} {_badge(view.ok)}'
        + (f' <span class="muted">{_e(view.closed)}</span>' if view.closed else "")
        + "</h2>",
    ]
    if view.findings:
        parts.append('<ul class="findings">')
        parts += [_finding(f) for f in view.findings]
        parts.append("</ul>")
    tracks: list[str] = []
    if view.input is not None:
        tracks.append(_waveform(view, view.input, "input audio (what the client streamed)"))
    elif view.input_note:
        tracks.append(f'<p class="muted input-note">{_e(view.input_note)}</p>')
    if view.reply is not None:
        tracks.append(_waveform(view, view.reply, "reply audio (what the model said)"))
    if tracks or view.diagnostics:
        diagnostics = "".join(
            f"<tr><th>{_e(name)}</th><td>{_e(value)}</td></tr>" for name, value in view.diagnostics
        )
        parts.append(
            f'<div class="tracks"><div>{"".join(tracks)}</div><div><h3>audio diagnostics</h3>'
            f'<table class="diagnostics">{diagnostics}</table></div></div>'
        )
    types = "".join(f'<option value="{_e(t)}">' for t in view.types)
    parts.append(
        f'<div class="filters"><label>event type <input class="filter-type" type="search" '
        f'list="{anchor}-types" placeholder="e.g. response."></label>'
        f'<datalist id="{anchor}-types">{types}</datalist>'
        '<label><input class="filter-dir" type="checkbox" value="client" checked> client</label>'
        '<label><input class="filter-dir" type="checkbox" value="server" checked> mock</label>'
        '<label><input class="filter-dir" type="checkbox" value="note" checked> notes</label>'
        '<span class="shown muted"></span></div>'
    )
    flagged = {f.row for f in view.findings if f.row}
    parts.append(f'<ol class="timeline" aria-label="timeline of connection {view.number}">')
    parts += [_row(row, flagged) for row in view.rows]
    parts.append("</ol></section>")
    return "\n".join(parts)


@dataclass
class SectionView:
    """A group of connections: one scenario, or one test."""

    anchor: str
    title: str
    ok: bool | None
    findings: list[str]
    connections: list[ConnectionView]


def _section(section: SectionView) -> str:
    parts = [
        f'<article class="section" id="{section.anchor}">',
        f'<h2 class="section-title">{_e(section.title)} {_badge(section.ok)}</h2>',
    ]
    if section.findings:
        parts.append('<ul class="findings scenario-findings">')
        parts += [f'<li class="error">{_e(f)}</li>' for f in section.findings]
        parts.append("</ul>")
    parts += [_connection(v) for v in section.connections]
    if not section.connections:
        parts.append('<p class="muted">No connection was made.</p>')
    parts.append("</article>")
    return "\n".join(parts)


def render_page(sections: Sequence[SectionView], *, title: str, summary: str = "") -> str:
    """The whole page for ``sections``."""
    index = "".join(
        f'<li><a href="#{s.anchor}">{_e(s.title)}</a> {_badge(s.ok)}</li>' for s in sections
    )
    body = "\n".join(_section(s) for s in sections) or "<p>Nothing to report.</p>"
    return f"""<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<link rel="icon" href="data:,">
<meta http-equiv="Content-Security-Policy" content="{_CSP}">
<title>{_e(title)}</title>
<style>{_asset("report.css")}</style>
</head>
<body>
<header><h1>{_e(title)}</h1>{_THEME_BUTTON}</header>
<main>
{f'<p class="summary">{_e(summary)}</p>' if summary else ""}
<nav class="index" aria-label="contents"><ul>{index}</ul></nav>
{body}
</main>
<script>{_asset("report.js")}</script>
</body>
</html>
"""
