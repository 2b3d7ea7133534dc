"""A conversation as a person reads it: the timeline a failing test (or ``run -v``) shows.

One line an event: time since the connection opened, direction (``->`` client to mock, ``<-``
mock to client, ``!!`` a finding or a note), type, and what matters about it. Runs of appends
and deltas are folded into one line (``<audio 1.2 s in 60 appends>``, the text of the deltas);
``session.update`` shows its tools, modalities and turn detection; function calls show their
name, ``call_id`` and arguments. Lines fit the terminal: the fields that say what happened come
first and are never cut; only the rest of the event is shortened.

>>> from mock_server.transcript import Transcript
>>> t = Transcript()
>>> _ = t.add(0.0, "client", "session.update", event={"type": "session.update", "session": {
...     "output_modalities": ["text"], "tools": [{"type": "function", "name": "get_weather"}],
...     "audio": {"input": {"turn_detection": {"type": "server_vad"}}}}})
>>> for n in range(3):
...     _ = t.add(0.1 + n / 100, "client", "input_audio_buffer.append",
...               event={"type": "input_audio_buffer.append", "audio": "AAAA" * 1200})
>>> print(render_timeline([t], width=100, legend=False))
connection 1
     0.000s -> session.update tools=[get_weather] modalities=[text] turn_detection=server_vad
     0.100s -> input_audio_buffer.append <audio 0.2 s in 3 appends>
"""

from __future__ import annotations

import base64
import binascii
import itertools
import json
import shutil
from collections.abc import Iterable
from typing import Any

from mock_server.transcript import Entry, Transcript, elided_size

LEGEND = (
    "legend: -> client to mock   <- mock to client   !! finding or note   "
    "times in seconds since the connection opened"
)
_SKIP = {"event_id", "type"}
# Ids and indexes every response event carries: noise in a timeline read by a person.
_BOOKKEEPING = ("response_id", "previous_item_id", "output_index", "content_index", "part")
_PREFIX = 16  # "  " + "  12.345s" + " -> "
# Bytes a second of audio in each format (PCM16 at 24 kHz; G.711 at 8 kHz).
_BYTES_PER_S = {"pcm16": 48000, "g711_ulaw": 8000, "g711_alaw": 8000}
_FORMATS = {"audio/pcm": "pcm16", "audio/pcmu": "g711_ulaw", "audio/pcma": "g711_alaw"}
_AUDIO_DELTAS = frozenset({"response.output_audio.delta", "response.audio.delta"})
_TEXT_DELTAS = frozenset(
    {
        "response.output_text.delta",
        "response.text.delta",
        "response.output_audio_transcript.delta",
        "response.audio_transcript.delta",
        "conversation.item.input_audio_transcription.delta",
    }
)


def _width(width: int | None) -> int:
    if width is not None:
        return max(40, width)
    return max(40, shutil.get_terminal_size((120, 24)).columns)


def _audio_bytes(value: Any) -> int:
    """The bytes of audio a base64 field carries, or stood for (the session's transcript keeps
    appended audio as its size only: see :func:`mock_server.transcript.elided`)."""
    if not isinstance(value, str):
        return 0
    size = elided_size(value)
    if size is not None:
        return size * 3 // 4
    try:
        return len(base64.b64decode(value, validate=True))
    except (binascii.Error, ValueError):
        return 0


def _fit(text: str, room: int) -> str:
    if len(text) <= room:
        return text
    return text[: max(0, room - 3)] + "..."


def _compact(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, default=str, separators=(",", ":"))


def audio_format_of(session: dict[str, Any], direction: str) -> str | None:
    """The audio format a session.update sets for ``input`` or ``output`` (either dialect)."""
    ga = session.get("audio", {}).get(direction, {}).get("format")
    if isinstance(ga, dict) and isinstance(ga.get("type"), str):
        return _FORMATS.get(ga["type"])
    beta = session.get(f"{direction}_audio_format")
    return beta if isinstance(beta, str) else None


def _session_summary(session: dict[str, Any]) -> list[str]:
    """The fields of a session config that decide a conversation's course."""
    parts = []
    tools = session.get("tools")
    if isinstance(tools, list):
        names = [str(t.get("name") or t.get("type")) for t in tools if isinstance(t, dict)]
        parts.append(f"tools=[{', '.join(names)}]")
    modalities = session.get("output_modalities", session.get("modalities"))
    if isinstance(modalities, list):
        parts.append(f"modalities=[{', '.join(map(str, modalities))}]")
    audio_in = session.get("audio", {}).get("input", {}) if isinstance(session, dict) else {}
    detection = audio_in.get("turn_detection", session.get("turn_detection", "unset"))
    if detection != "unset":
        kind = detection.get("type") if isinstance(detection, dict) else None
        parts.append(f"turn_detection={kind or 'none'}")
    return parts


def _call(item: dict[str, Any]) -> str | None:
    """A function-call item (or output) by its name, call_id and arguments."""
    kind = item.get("type")
    if kind == "function_call":
        arguments = item.get("arguments", "")
        return f"function_call {item.get('name')} call_id={item.get('call_id')} args={arguments}"
    if kind == "function_call_output":
        return f"function_call_output call_id={item.get('call_id')} output={item.get('output')}"
    return None


def key_fields(event: dict[str, Any]) -> tuple[list[str], dict[str, Any]]:
    """The parts of an event that are never cut, and the rest (shown as far as it fits)."""
    kind = str(event.get("type"))
    rest = {k: v for k, v in event.items() if k not in _SKIP}
    key: list[str] = []
    session = event.get("session")
    if isinstance(session, dict):
        key.append(f"id={session['id']}" if "id" in session else "")
        key += _session_summary(session)
        rest.pop("session")
        instructions = session.get("instructions")
        if isinstance(instructions, str):
            rest["instructions"] = instructions
    item = event.get("item")
    if isinstance(item, dict):
        call = _call(item)
        if call is not None:
            key.append(call)
            rest.pop("item")
        elif "role" in item:
            key.append(f"{item.get('type', 'message')} role={item['role']}")
            rest.pop("item")
            said = [
                str(part.get("text") or part.get("transcript") or "")
                for part in item.get("content") or []
                if isinstance(part, dict)
            ]
            if any(said):
                rest["text"] = " ".join(p for p in said if p)
    response = event.get("response")
    if isinstance(response, dict):
        rest.pop("response")
        details = response.get("status_details") or {}
        status = str(response.get("status", ""))
        if isinstance(details, dict) and details.get("reason"):
            status += f" ({details['reason']})"
        if status:
            key.append(status)
        outputs = [_call(o) or str(o.get("type")) for o in response.get("output") or []]
        if outputs:
            key.append("output: " + "; ".join(outputs))
        if isinstance(details, dict) and details.get("error"):
            rest["error"] = details["error"]
    if kind.endswith("function_call_arguments.done"):
        key.append(f"call_id={event.get('call_id')} args={event.get('arguments')}")
        rest.pop("arguments", None)
        rest.pop("call_id", None)
    if kind == "error" and isinstance(event.get("error"), dict):
        error = event["error"]
        key.append(f"{error.get('code') or error.get('type')}: {error.get('message')}")
        rest.pop("error")
    if kind.startswith(("response.", "conversation.")) and kind != "response.create":
        for noise in _BOOKKEEPING:
            rest.pop(noise, None)
    for field in ("audio", "delta"):
        if field in rest and (kind in _AUDIO_DELTAS or kind == "input_audio_buffer.append"):
            rest[field] = f"<{_audio_bytes(rest[field])} bytes>"
    return [k for k in key if k], rest


def _line(entry: Entry, width: int) -> str:
    arrow = {"client": "->", "server": "<-", "note": "!!"}[entry.direction]
    head = f"{entry.t:8.3f}s {arrow} {entry.type}"
    if entry.note is not None:
        return f"{head} {entry.note}".rstrip()  # a finding is never cut
    if entry.event is None:
        return f"{head} {_fit(entry.raw or '', width - _PREFIX - len(entry.type))}".rstrip()
    key, rest = key_fields(entry.event)
    line = " ".join([head, *key])
    if rest:
        room = width - 2 - len(line) - 1
        if room >= 12:
            line += " " + _fit(_compact(rest), room)
    return line


class _Fold:
    """A run of appends or deltas of one type, shown as one line."""

    def __init__(self, entry: Entry, formats: dict[str, str]) -> None:
        self.first = entry
        self.type = entry.type
        self.count = 0
        self.bytes = 0
        self.text = ""
        self.format = formats["input" if entry.direction == "client" else "output"]
        self.add(entry)

    @staticmethod
    def folds(entry: Entry) -> bool:
        return entry.event is not None and (
            entry.type == "input_audio_buffer.append"
            or entry.type in _AUDIO_DELTAS
            or entry.type in _TEXT_DELTAS
            or entry.type.endswith(".delta")
        )

    def add(self, entry: Entry) -> None:
        assert entry.event is not None
        self.count += 1
        if self.type == "input_audio_buffer.append":
            self.bytes += _audio_bytes(entry.event.get("audio"))
        elif self.type in _AUDIO_DELTAS:
            self.bytes += _audio_bytes(entry.event.get("delta"))
        else:
            self.text += str(entry.event.get("delta", ""))

    def line(self, width: int) -> str:
        head = f"{self.first.t:8.3f}s {'->' if self.first.direction == 'client' else '<-'} "
        head += self.type
        noun = "appends" if self.type == "input_audio_buffer.append" else "deltas"
        if self.type == "input_audio_buffer.append" or self.type in _AUDIO_DELTAS:
            seconds = self.bytes / _BYTES_PER_S.get(self.format, 48000)
            many = f" in {self.count} {noun}" if self.count > 1 else ""
            return f"{head} <audio {seconds:.1f} s{many}>"
        tail = f" ({self.count} {noun})" if self.count > 1 else ""
        room = width - 2 - len(head) - len(tail) - 1
        return f"{head} {_fit(json.dumps(self.text, ensure_ascii=False), max(room, 12))}{tail}"


def _connection_lines(transcript: Transcript, width: int) -> list[str]:
    formats = {"input": "pcm16", "output": "pcm16"}
    lines: list[str] = []
    fold: _Fold | None = None
    held: list[str] = []  # notes made during a fold, shown after its line
    for entry in transcript.entries:
        if fold is not None and entry.type == fold.type and entry.event is not None:
            fold.add(entry)
            continue
        if fold is not None and entry.direction == "note":
            held.append(_line(entry, width))
            continue
        if fold is not None:
            lines.append(fold.line(width))
            lines += held
            fold, held = None, []
        session = entry.event.get("session") if entry.event is not None else None
        if isinstance(session, dict):
            for direction in ("input", "output"):
                formats[direction] = audio_format_of(session, direction) or formats[direction]
        if _Fold.folds(entry):
            fold = _Fold(entry, formats)
            continue
        lines.append(_line(entry, width))
    if fold is not None:
        lines.append(fold.line(width))
    return lines + held


def render_timeline(
    transcripts: Iterable[Transcript],
    limit: int = 200,
    width: int | None = None,
    legend: bool = True,
    numbers: Iterable[int] | None = None,
) -> str:
    """The timeline of one or more connections (each headed by its handshake).

    ``width`` is the terminal's (default: the current terminal's, else 120 columns);
    ``limit`` bounds the lines a connection shows (the middle of a longer one is elided);
    ``numbers`` are the connections' numbers (``Connection.number``, counted per mount as the
    findings count them), by default 1, 2, ...
    """
    columns = _width(width)
    out: list[str] = [LEGEND] if legend else []
    counted = itertools.count(1) if numbers is None else numbers
    for number, transcript in zip(counted, transcripts, strict=False):
        handshake = transcript.handshake
        where = f"{handshake.path} ({handshake.dialect})" if handshake else ""
        out.append(f"connection {number} {where}".rstrip())
        lines = _connection_lines(transcript, columns)
        if len(lines) > limit:
            lines = [
                *lines[: limit // 2],
                f"          ... {len(lines) - limit} lines ...",
                *lines[-limit // 2 :],
            ]
        out += ["  " + line for line in lines]
        if transcript.closed:
            out.append(f"  closed {transcript.closed[0]} {transcript.closed[1]}".rstrip())
    if len(out) == (1 if legend else 0):
        out.append("(no connection was made)")
    return "\n".join(out)
