"""What the control API shows of a connection, as JSON: a summary with its verdict, its
transcript a page at a time (keys redacted, long payloads as their size), and the journal of
recent connections, bounded.

Everything here is bounded: a page holds at most :data:`MAX_PAGE` entries, a string in it at
most :data:`MAX_STRING` characters (longer ones, base64 audio mostly, are shown as their size),
and the :class:`Journal` at most its capacity, the oldest dropped first.
"""

from __future__ import annotations

import dataclasses
import sys
import time
from collections import deque
from typing import TYPE_CHECKING, Any

from mock_server.redaction import redact_headers, redact_value
from mock_server.server.connection import Connection

if TYPE_CHECKING:
    from mock_server.scenario.verdict import ConnectionVerdict

JOURNAL_SIZE = 200
DEFAULT_PAGE = 500
MAX_PAGE = 5_000
MAX_STRING = 4_096


def _secrets(connection: Connection) -> list[str]:
    secrets = [connection.api_key] if connection.api_key else []
    if connection.relay is not None:
        secrets += connection.relay.secrets
    return secrets


def connection_verdict(connection: Connection) -> ConnectionVerdict | None:
    """The connection's own verdict (its scenario runner's), or None without a scenario."""
    script = connection.session.script if connection.session is not None else None
    # Not loaded, no scenario has run (the API does not load the scenario machinery itself).
    runner = sys.modules.get("mock_server.scenario.runner")
    if runner is None or not isinstance(script, runner.ScenarioRunner):
        return None
    verdict: ConnectionVerdict = script.verdict()
    return verdict


def connection_summary(connection: Connection, mount_id: str | None) -> dict[str, Any]:
    """One connection in a line or two: where, how it ended, its verdict."""
    handshake = connection.transcript.handshake
    closed = connection.transcript.closed
    verdict = connection_verdict(connection)
    entries = connection.transcript.entries
    if verdict is None:  # no scenario: only the client's mistakes judge it
        errors = [f for f in connection.transcript.findings() if f.severity == "error"]
        ok = not errors
        findings = [f"{f.kind}: {f.message}" for f in errors]
    else:
        ok, findings = verdict.ok, verdict.findings()
    summary = {
        "mount": mount_id,
        "prefix": connection.mount.prefix,
        "connection": connection.number,
        "ended": connection.ended,
        "path": handshake.path if handshake else None,
        "dialect": connection.dialect.value,
        "model": connection.model,
        "closed": {"code": closed[0], "reason": closed[1]} if closed else None,
        "client_events": sum(1 for e in entries if e.direction == "client"),
        "server_events": sum(1 for e in entries if e.direction == "server"),
        "ok": ok,
        "findings": findings,
        "verdict": None if verdict is None else verdict.to_dict(),
    }
    redacted: dict[str, Any] = redact_value(summary, _secrets(connection))
    return redacted


def _trimmed(value: Any) -> Any:
    if isinstance(value, str):
        if len(value) > MAX_STRING:
            return f"<elided: {len(value)} characters>"
        return value
    if isinstance(value, dict):
        return {k: _trimmed(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_trimmed(v) for v in value]
    return value


def transcript_page(connection: Connection, offset: int, limit: int) -> dict[str, Any]:
    """Entries ``offset`` to ``offset + limit`` of the connection's transcript, redacted."""
    transcript = connection.transcript
    entries = transcript.entries[offset : offset + limit]
    handshake = None
    if transcript.handshake is not None:
        handshake = dataclasses.asdict(transcript.handshake)
        handshake["headers"] = [list(h) for h in redact_headers(transcript.handshake.headers)]
    total = len(transcript.entries)
    page = {
        "connection": connection.number,
        "ended": connection.ended,
        "handshake": handshake,
        "closed": list(transcript.closed) if transcript.closed else None,
        "total_entries": total,
        "offset": offset,
        "next_offset": offset + len(entries) if offset + len(entries) < total else None,
        "entries": [_trimmed(dataclasses.asdict(entry)) for entry in entries],
    }
    redacted: dict[str, Any] = redact_value(page, _secrets(connection))
    return redacted


class Journal:
    """The most recent connections that ended, with their verdicts; the oldest dropped first.

    >>> journal = Journal(capacity=2)
    >>> for n in range(3):
    ...     journal.add({"connection": n})
    >>> [e["connection"] for e in journal.entries()], journal.dropped
    ([1, 2], 1)
    """

    def __init__(self, capacity: int = JOURNAL_SIZE) -> None:
        self.capacity = capacity
        self._entries: deque[dict[str, Any]] = deque(maxlen=capacity)
        self.dropped = 0

    def add(self, entry: dict[str, Any]) -> None:
        if len(self._entries) == self.capacity:
            self.dropped += 1
        self._entries.append(entry)

    def record(self, connection: Connection, mount_id: str | None) -> None:
        # Called as the connection ends (before the server marks it so).
        summary = connection_summary(connection, mount_id)
        self.add({**summary, "ended": True, "ended_at": time.time()})

    def entries(self, limit: int | None = None) -> list[dict[str, Any]]:
        """Oldest first; with ``limit``, the most recent ``limit`` only."""
        entries = list(self._entries)
        return entries if limit is None else entries[max(0, len(entries) - limit) :]

    def clear(self) -> None:
        self._entries.clear()
        self.dropped = 0
