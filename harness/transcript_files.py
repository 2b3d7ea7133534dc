"""``serve --transcript-dir``: each ended connection's transcript written to a JSON file, off the
event loop.

A long session's transcript can hold hundreds of megabytes (audio appends are kept whole);
encoding, redacting and writing it on the loop would stall every other session for seconds.
:class:`TranscriptFiles` takes a snapshot of the ended connection on the loop (a copy of its
list of entries, which nothing changes once the connection has ended: the cost is one list
copy) and a worker thread does the rest, in small steps so that it never holds the GIL long:
each string is redacted on its own (:func:`~mock_server.transcript.redact_text` works through
long text in windows) and long strings are escaped in pieces. At most :data:`MAX_PENDING`
transcripts wait for the thread; beyond that the server waits for the disk (said once on
stderr) rather than hold ever more. :meth:`TranscriptFiles.close` finishes every pending write:
``serve`` calls it on Ctrl-C/SIGTERM, after closing the connections, before it exits.
"""

from __future__ import annotations

import dataclasses
import json
import os
import queue
import sys
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

from mock_server.redaction import redact_headers, redact_text, secrets_of
from mock_server.scenario.verdict import ConnectionVerdict
from mock_server.server import Connection
from mock_server.transcript import EntryLog, Handshake

MAX_PENDING = 64
# Strings longer than this are escaped in pieces of this size (one C call holds the GIL).
_PIECE = 256 * 1024
# The writer works in bursts of about a millisecond, each followed by a pause for the loop.
_BURST_S = 0.001
_PAUSE_S = 0.0005


@dataclasses.dataclass(frozen=True)
class _Snapshot:
    number: int
    handshake: Handshake | None
    entries: EntryLog
    closed: tuple[int, str] | None
    secrets: tuple[str, ...]
    input_audio: bytes | None = None
    verdict: ConnectionVerdict | None = None


class TranscriptFiles:
    """Writes each ended connection's transcript to ``folder/connection-NNNN.json``.

    >>> import tempfile
    >>> files = TranscriptFiles(Path(tempfile.mkdtemp()))
    >>> files.close()  # waits for every pending write; nothing was pending
    """

    def __init__(
        self,
        folder: Path,
        *,
        html: bool = False,
        verdict_of: Callable[[Connection], ConnectionVerdict | None] | None = None,
    ) -> None:
        """With ``html``, each transcript gets its HTML report beside it
        (``connection-NNNN.html``, :mod:`harness.report`), with its verdict from ``verdict_of``."""
        folder.mkdir(parents=True, exist_ok=True)
        self.folder = folder
        self.html = html
        self.verdict_of = verdict_of
        self._pending: queue.Queue[_Snapshot | None] = queue.Queue(MAX_PENDING)
        self._said_full = False
        self.failures: list[str] = []
        self._thread = threading.Thread(
            target=self._work, name="realtime-mock transcript files", daemon=True
        )
        self._thread.start()

    def __call__(self, conn: Connection) -> None:
        """On the loop: note what to write, without encoding anything."""
        transcript = conn.transcript
        snapshot = _Snapshot(
            conn.number,
            transcript.handshake,
            transcript.entries.copy(),
            transcript.closed,
            secrets_of(conn),
            bytes(transcript.input_audio) if transcript.input_audio is not None else None,
            self.verdict_of(conn) if self.verdict_of is not None else None,
        )
        if self._pending.full() and not self._said_full:
            self._said_full = True
            print(
                f"realtime-mock: {MAX_PENDING} transcripts wait to be written to "
                f"{self.folder}; the server waits for the disk",
                file=sys.stderr,
                flush=True,
            )
        self._pending.put(snapshot)

    def close(self) -> None:
        """Finish every pending write, then stop the thread."""
        if self._thread.is_alive():
            self._pending.put(None)
            self._thread.join()

    def _work(self) -> None:
        while True:
            snapshot = self._pending.get()
            if snapshot is None:
                return
            path = self.folder / f"connection-{snapshot.number:04d}.json"
            try:
                _write(snapshot, path)
                if self.html:
                    path = path.with_suffix(".html")
                    _write_html(snapshot, path)
            except Exception as exc:  # one connection's file; the others are still written
                message = f"realtime-mock: could not write {path}: {type(exc).__name__}: {exc}"
                self.failures.append(message)
                print(redact_text(message, snapshot.secrets), file=sys.stderr, flush=True)


def _write_html(snapshot: _Snapshot, path: Path) -> None:
    """The connection's HTML report, written whole or not at all."""
    from harness.report import ConnectionRecord, Section, render_report
    from harness.report.model import Pacer
    from mock_server.transcript import Transcript

    transcript = Transcript(handshake=snapshot.handshake, entries=snapshot.entries)
    transcript.closed = snapshot.closed
    record = ConnectionRecord(
        snapshot.number, transcript, snapshot.verdict, snapshot.input_audio, "", snapshot.secrets
    )
    title = f"connection {snapshot.number}"
    page = render_report([Section(title, [record])], title=f"realtime-mock {title}", pause=Pacer())
    partial = path.with_name(path.name + ".partial")
    partial.write_text(page, encoding="utf-8")
    os.replace(partial, path)


def _write(snapshot: _Snapshot, path: Path) -> None:
    """The snapshot as JSON (the shape of ``Transcript.to_json``), written whole or not at all."""
    partial = path.with_name(path.name + ".partial")
    with partial.open("w", encoding="utf-8") as out:
        worked_since = time.perf_counter()
        for piece in _document(snapshot):
            out.write(piece)
            if time.perf_counter() - worked_since > _BURST_S:
                # Left to the interpreter, a busy thread keeps the GIL for 5 ms at a time, and
                # the loop needs it several times per event it moves: a short sleep hands it
                # over at once.
                time.sleep(_PAUSE_S)
                worked_since = time.perf_counter()
    os.replace(partial, path)


def _document(snapshot: _Snapshot) -> Iterator[str]:
    secrets = snapshot.secrets
    handshake = None
    if snapshot.handshake is not None:
        handshake = dataclasses.asdict(snapshot.handshake)
        handshake["headers"] = [list(h) for h in redact_headers(snapshot.handshake.headers)]
    yield '{\n  "handshake": '
    yield from _encode(handshake, secrets)
    yield ',\n  "entries": ['
    for index, entry in enumerate(snapshot.entries):
        yield "\n    " if index == 0 else ",\n    "
        finding = entry.finding
        yield from _encode(
            {
                "t": entry.t,
                "direction": entry.direction,
                "type": entry.type,
                "event": entry.event,
                "raw": entry.raw,
                "note": entry.note,
                "finding": dataclasses.asdict(finding) if finding is not None else None,
            },
            secrets,
        )
    yield '\n  ],\n  "closed": '
    yield from _encode(list(snapshot.closed) if snapshot.closed else None, secrets)
    yield "\n}\n"


def _encode(value: Any, secrets: Sequence[str]) -> Iterator[str]:
    """``value`` as compact JSON, every string (keys too) redacted, in GIL-friendly pieces."""
    if isinstance(value, str):
        yield from _string(redact_text(value, secrets))
    elif isinstance(value, dict):
        yield "{"
        for index, (key, item) in enumerate(value.items()):
            if index:
                yield ","
            yield from _string(redact_text(str(key), secrets))
            yield ":"
            yield from _encode(item, secrets)
        yield "}"
    elif isinstance(value, list | tuple):
        yield "["
        for index, item in enumerate(value):
            if index:
                yield ","
            yield from _encode(item, secrets)
        yield "]"
    else:  # numbers, booleans, None (the transcript holds JSON values only)
        yield json.dumps(value)


def _string(text: str) -> Iterator[str]:
    if len(text) <= _PIECE:
        yield json.dumps(text)
        return
    yield '"'
    for start in range(0, len(text), _PIECE):
        yield json.dumps(text[start : start + _PIECE])[1:-1]
    yield '"'
