"""Conformance of the mock's own output to the official SDK's server-event models.

Strict clients validate every server event against the SDK's types and treat an unknown shape
as an error, so the mock checks itself: :func:`install` hooks a check into every session, and
the test suite (tests/conftest.py) fails any test during which a non-conforming event was sent.
``realtime-mock serve --strict`` reports such events on stderr.
"""

from __future__ import annotations

import sys
import threading
from typing import Any

from mock_server import session
from mock_server.protocol.events import Dialect

_lock = threading.Lock()
problems: list[str] = []


def check(event: dict[str, Any], dialect: Dialect) -> None:
    from mock_server.protocol.validation import server_event_problems

    found = server_event_problems(event, dialect)
    if found:
        with _lock:
            problems.extend(f"{dialect.value} {event.get('type')}: {p}" for p in found)


def install() -> None:
    """Check every event every session emits from now on; problems collect in :data:`problems`."""
    if check not in session.outbound_checks:
        session.outbound_checks.append(check)


def take() -> list[str]:
    """The problems found since the last call, and forget them."""
    with _lock:
        found = list(problems)
        problems.clear()
    return found


def install_stderr_check() -> None:
    def report(event: dict[str, Any], dialect: Dialect) -> None:
        from mock_server.protocol.validation import server_event_problems

        for problem in server_event_problems(event, dialect):
            print(f"realtime-mock: NON-CONFORMING {event.get('type')}: {problem}", file=sys.stderr)

    session.outbound_checks.append(report)
