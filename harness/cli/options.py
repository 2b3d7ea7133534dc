"""The values ``realtime-mock``'s options take, parsed once for every command.

Each is an argparse ``type``: a value that does not parse is an error naming the option and
what to give instead. The strings a user types ("ga", "beta") become the one
:class:`~mock_server.protocol.events.Dialect` here.
"""

from __future__ import annotations

import argparse

from mock_server.protocol.events import Dialect
from mock_server.units import parse_duration, parse_pace


def pace(text: str) -> float:
    try:
        return parse_pace(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from exc


def duration(text: str) -> float:
    try:
        return parse_duration(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from exc


def port(text: str) -> int:
    try:
        number = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"invalid port {text!r}: use a number, 0 = any free"
        ) from None
    if not 0 <= number <= 65535:
        raise argparse.ArgumentTypeError(f"invalid port {number}: use 0..65535 (0 = any free port)")
    return number


DIALECTS = [dialect.value for dialect in Dialect]


def dialect(text: str) -> Dialect:
    """A dialect as typed: ``ga`` or ``beta``.

    >>> dialect("beta")
    <Dialect.BETA: 'beta'>
    """
    try:
        return Dialect(text)
    except ValueError:
        choices = ", ".join(repr(d) for d in DIALECTS)
        raise argparse.ArgumentTypeError(
            f"invalid choice: {text!r} (choose from {choices})"
        ) from None


def workers(text: str) -> int:
    """How many worker processes: a number from 1, or ``auto`` (the CPUs this process may use).

    >>> workers("2")
    2
    """
    from mock_server.server.workers import MAX_WORKERS, available_cpus

    if text == "auto":
        return min(available_cpus(), MAX_WORKERS)
    try:
        number = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"invalid --workers {text!r}: a number of processes, or auto (one per CPU)"
        ) from None
    if not 1 <= number <= MAX_WORKERS:
        raise argparse.ArgumentTypeError(
            f"invalid --workers {number}: use 1..{MAX_WORKERS}, or auto (one per CPU)"
        )
    return number
