"""A conversation as a person reads it: the timeline a failing test shows.

One line an event: time, direction (``->`` client to server, ``<-`` server to client, ``!!`` a
finding), type, and the interesting fields; audio is elided as ``<audio 1.2 s>`` and runs of
the same delta type are folded into one line with a count.
"""

from __future__ import annotations

import base64
import binascii
import itertools
import json
from collections.abc import Iterable
from typing import Any

from mock_server.transcript import Entry, Transcript

_AUDIO_KEYS = ("audio", "delta")
_SKIP = {"event_id", "type"}
_WIDTH = 110


def _audio_seconds(value: str) -> float | None:
    try:
        return len(base64.b64decode(value, validate=True)) / 48000
    except (binascii.Error, ValueError):
        return None


def _fields(event: dict[str, Any]) -> str:
    shown: dict[str, Any] = {}
    for key, value in event.items():
        if key in _SKIP:
            continue
        if key in _AUDIO_KEYS and isinstance(value, str) and "audio" in str(event.get("type")):
            seconds = _audio_seconds(value)
            shown[key] = f"<audio {seconds:.1f} s>" if seconds is not None else "<audio ?>"
        elif key in ("session", "response") and isinstance(value, dict):
            shown[key] = {k: value[k] for k in ("id", "status", "status_details") if k in value}
        else:
            shown[key] = value
    text = json.dumps(shown, ensure_ascii=False, default=str)
    return text if len(text) <= _WIDTH else text[: _WIDTH - 3] + "..."


def _line(entry: Entry) -> str:
    arrow = {"client": "->", "server": "<-", "note": "!!"}[entry.direction]
    detail = _fields(entry.event) if entry.event is not None else entry.note or entry.raw or ""
    return f"{entry.t:8.3f}s {arrow} {entry.type} {detail}".rstrip()


def render_timeline(
    transcripts: Iterable[Transcript], limit: int = 200, numbers: Iterable[int] | None = None
) -> str:
    """The timeline of one or more connections (each headed by its handshake).

    ``numbers`` are the connections' numbers (``Connection.number``, counted per mount as the
    findings count them); by default 1, 2, ...
    """
    out: list[str] = []
    for number, transcript in zip(
        itertools.count(1) if numbers is None else numbers, transcripts, strict=False
    ):
        handshake = transcript.handshake
        where = f"{handshake.path} ({handshake.dialect})" if handshake else ""
        out.append(f"connection {number} {where}".rstrip())
        previous: str | None = None
        run = 0
        lines: list[str] = []
        for entry in transcript.entries:
            repeating = entry.type.endswith(".delta") or entry.type == "input_audio_buffer.append"
            if repeating and entry.type == previous:
                run += 1
                continue
            if run:
                lines.append(f"          ... and {run} more {previous}")
                run = 0
            previous = entry.type
            lines.append(_line(entry))
        if run:
            lines.append(f"          ... and {run} more {previous}")
        if len(lines) > limit:
            lines = [
                *lines[: limit // 2],
                f"          ... {len(lines) - limit} lines ...",
                *lines[-limit // 2 :],
            ]
        out += ["  " + line for line in lines]
        if transcript.closed:
            out.append(f"  closed {transcript.closed[0]} {transcript.closed[1]}".rstrip())
    return "\n".join(out)
