"""Conformance of the mock's own output to the official SDK's server-event models.

Strict clients validate every server event against the SDK's types and treat an unknown shape
as an error, so the mock checks itself. A session's outbox runs the checks its
:class:`~mock_server.session.SessionOptions` give (``outbound_checks``); left out (None), they
are the process's defaults, :func:`default_checks`, read when the session is built. This module
is the one place those defaults are set: :func:`install` adds the SDK conformance check (the
test suite does, in tests/conftest.py, and fails any test during which a non-conforming event
was sent, by any session, also one inside a server a test starts), and
``realtime-mock serve --strict`` adds :func:`install_stderr_check`, which reports such events on
stderr.
"""

from __future__ import annotations

import sys
import threading
from collections.abc import Callable
from typing import Any

from mock_server.protocol.events import Dialect

# A check of one outgoing event (as sent) for the connection's dialect: it records what it
# finds (raising would cost the client its event).
OutboundCheck = Callable[[dict[str, Any], Dialect], None]

_lock = threading.Lock()
problems: list[str] = []
# The checks a session runs when its options name none (see the module's docstring).
_defaults: list[OutboundCheck] = []


def default_checks() -> tuple[OutboundCheck, ...]:
    """The checks of every session built from now on whose options name none."""
    return tuple(_defaults)


def check(event: dict[str, Any], dialect: Dialect) -> None:
    from mock_server.protocol.validation import server_event_problems

    found = server_event_problems(event, dialect)
    if found:
        with _lock:
            problems.extend(f"{dialect.value} {event.get('type')}: {p}" for p in found)


def install() -> None:
    """Check every event every session built from now on emits (unless its options name its
    own checks); problems collect in :data:`problems`."""
    if check not in _defaults:
        _defaults.append(check)


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

    _defaults.append(report)
