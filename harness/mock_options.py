"""The options of one test's mock (keyword arguments of ``realtime_mock(...)`` or its marker),
read the way the scenario format reads the same values."""

from __future__ import annotations

from dataclasses import dataclass

from mock_server.protocol.events import Dialect
from mock_server.scenario.model import parse_dialect


@dataclass(frozen=True)
class MockOptions:
    """Per-test options (keyword arguments of ``realtime_mock(...)`` or its marker).

    ``pace``: ``fast`` (default), ``realtime`` or ``xN``; ``timeout``: the bound on every
    expectation without its own ``within`` (real seconds); ``api_key``: the only key the mock
    accepts (the mock's :attr:`RealtimeMock.api_key`); ``strict``: unexpected client events and
    the client's warnings fail the verdict too, and a mock without a scenario is checked.
    """

    dialect: Dialect | str | None = None  # ga, beta, any (or a Dialect); None: the scenario's
    pace: str | float | None = None
    time_scale: float | None = None
    timeout: float | str | None = None
    api_key: str | None = None
    strict: bool = False
    seed: int | str | None = None


def dialect_option(value: Dialect | str) -> Dialect | None:
    """The ``dialect`` option as the scenario holds it (``any``: None, the handshake decides)."""
    parsed = parse_dialect(value)
    if parsed is not None and not isinstance(parsed, Dialect):
        raise ValueError(f"realtime_mock(dialect={value!r}): use 'ga', 'beta' or 'any'")
    return parsed


def pace_name(pace: str | float) -> str:
    from mock_server.units import parse_pace

    if isinstance(pace, str):
        parse_pace(pace)  # a clear error now, not when the first client connects
        return pace
    if pace <= 0:
        return "fast"
    return "realtime" if pace == 1 else f"x{1 / pace:g}"
