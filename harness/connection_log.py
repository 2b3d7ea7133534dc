"""``serve -v``: one line per ended connection, on stderr, with no key in it.

A line says where the connection went and how it ended: its number, path, dialect, the key's
kind only (``sk-<redacted>``, ``ek_<redacted>``, ``none``), how long it lasted, the close code,
and its verdict: the scenario's for this connection (``ok``, or ``failed:`` and its first
finding), ``relayed`` for a pass-through, else ``ok`` or the count of the client's protocol
mistakes the transcript found.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from typing import TextIO

from mock_server.redaction import redact_text
from mock_server.scenario.runner import ScenarioRunner
from mock_server.server import Connection

# A verdict's finding is cut to this many characters on its line.
MAX_FINDING = 160


def connection_line(conn: Connection) -> str:
    """The line ``serve -v`` prints when ``conn`` has ended."""
    handshake = conn.transcript.handshake
    path = handshake.path if handshake is not None else "?"  # the mount's prefix included
    key = "none" if not conn.api_key else f"{conn.api_key[:3]}<redacted>"
    duration = (
        f"{conn.closed_at - conn.opened_at:.2f}s"
        if conn.opened_at is not None and conn.closed_at is not None
        else "?"
    )
    code = "-" if conn.close_code is None else str(conn.close_code)
    return (
        f"realtime-mock: connection {conn.number} {redact_text(path)[:200]} "
        f"{conn.dialect.value} key={key} {duration} close={code} verdict={_verdict(conn)}"
    )


def _verdict(conn: Connection) -> str:
    if conn.relay is not None:
        return "relayed"
    script = conn.session.script if conn.session is not None else None
    if isinstance(script, ScenarioRunner):
        verdict = script.verdict()
        if verdict.ok:
            return "ok"
        findings = verdict.findings() or ["not ok"]
        return "failed: " + redact_text(findings[0])[:MAX_FINDING]
    mistakes = [f for f in conn.transcript.findings() if f.severity == "error"]
    return "ok" if not mistakes else f"{len(mistakes)} client mistake(s)"


def logging_connections(
    then: Callable[[Connection], None] | None = None, out: TextIO | None = None
) -> Callable[[Connection], None]:
    """An ``on_connection_end`` that prints each connection's line, then calls ``then``."""

    def ended(conn: Connection) -> None:
        print(connection_line(conn), file=out or sys.stderr, flush=True)
        if then is not None:
            then(conn)

    return ended
