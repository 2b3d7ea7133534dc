"""The verdict: how a client did against a scenario, typed.

A :class:`ConnectionVerdict` is one connection's result (its runner builds it when asked): the
steps satisfied, the expectations not met and what came instead, the client events no step
expected, the client's protocol mistakes the session noted, and the scenario's own problems (a
bad template). A :class:`ScenarioVerdict` is the scenario's result over every connection (the
served scenario builds it): the findings that fail it, the warnings that do not, the refused
handshakes and each connection's verdict.

``str()`` of either is the message people read when it fails; ``to_dict()`` is the JSON form
``serve`` prints, ``run`` writes and older callers read as a dict (its keys and values are the
ones those have always had).

    >>> unmet = Unmet("expect response.create", "the connection ended first", (), 1)
    >>> verdict = ConnectionVerdict(connection=1, unmet=(unmet,))
    >>> verdict.ok
    False
    >>> print(verdict)
    connection 1: expect response.create: the connection ended first (came instead: nothing)
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from mock_server.transcript import Finding


@dataclass(frozen=True)
class Unmet:
    """An expectation the client did not meet: the step, why, and the client events that came
    while it waited (the last ten)."""

    step: str
    why: str
    came_instead: tuple[str, ...]
    connection: int

    def __str__(self) -> str:
        came = ", ".join(self.came_instead) or "nothing"
        return f"{self.step}: {self.why} (came instead: {came})"

    def to_dict(self) -> dict[str, Any]:
        return {
            "step": self.step,
            "why": self.why,
            "came_instead": list(self.came_instead),
            "connection": self.connection,
        }


@dataclass(frozen=True)
class Unexpected:
    """A client event no step expected (noted when the scenario's ``unexpected`` says so)."""

    type: object
    event_id: object
    t: float

    def to_dict(self) -> dict[str, Any]:
        return {"type": self.type, "event_id": self.event_id, "t": self.t}


def _mistake(finding: Finding) -> dict[str, Any]:
    return {
        "kind": finding.kind,
        "severity": finding.severity,
        "message": finding.message,
        "code": finding.code,
        "event_id": finding.event_id,
        "t": round(finding.t, 3),
    }


@dataclass(frozen=True)
class ConnectionVerdict:
    """One connection's result. ``unexpected_fails`` is the scenario's ``unexpected: fail``:
    whether the client events no step expected fail it."""

    connection: int
    satisfied: tuple[str, ...] = ()
    unmet: tuple[Unmet, ...] = ()
    unexpected: tuple[Unexpected, ...] = ()
    mistakes: tuple[Finding, ...] = ()
    problems: tuple[str, ...] = ()
    unexpected_fails: bool = False

    @property
    def errors(self) -> tuple[Finding, ...]:
        """The mistakes that fail the verdict (the others are warnings)."""
        return tuple(m for m in self.mistakes if m.severity == "error")

    @property
    def warnings(self) -> tuple[Finding, ...]:
        return tuple(m for m in self.mistakes if m.severity == "warning")

    @property
    def ok(self) -> bool:
        failing_unexpected = self.unexpected_fails and self.unexpected
        return not self.unmet and not self.errors and not failing_unexpected and not self.problems

    def findings(self) -> list[str]:
        """What fails this connection, one line each, named by its connection number."""
        where = f"connection {self.connection}"
        lines = [f"{where}: {unmet}" for unmet in self.unmet]
        lines += [f"{where}: {m.kind}: {m.message}" for m in self.errors]
        if self.unexpected_fails:
            lines += [f"{where}: unexpected {event.type}" for event in self.unexpected]
        return lines + [f"{where}: {problem}" for problem in self.problems]

    def __str__(self) -> str:
        return "\n".join(self.findings()) or f"connection {self.connection}: ok"

    def to_dict(self) -> dict[str, Any]:
        return {
            "connection": self.connection,
            "ok": self.ok,
            "satisfied": list(self.satisfied),
            "unmet": [u.to_dict() for u in self.unmet],
            "unexpected": [u.to_dict() for u in self.unexpected],
            "mistakes": [_mistake(m) for m in self.mistakes],
            "problems": list(self.problems),
        }


@dataclass(frozen=True)
class Refusal:
    """A handshake the scenario refused: which attempt, with what, and when (monotonic)."""

    attempt: int
    status: int
    code: str | None
    t: float

    def to_dict(self) -> dict[str, Any]:
        return {"attempt": self.attempt, "status": self.status, "code": self.code, "t": self.t}


@dataclass(frozen=True)
class ScenarioVerdict:
    """A scenario's result over every connection: ok when nothing is found against it.

    ``scenario`` is None for a mock without one (the canned model), where only the client's
    protocol mistakes are judged.
    """

    scenario: str | None
    findings: tuple[str, ...] = ()
    warnings: tuple[str, ...] = ()
    refusals: tuple[Refusal, ...] = ()
    connections: tuple[ConnectionVerdict, ...] = ()

    @property
    def ok(self) -> bool:
        return not self.findings

    def __str__(self) -> str:
        name = self.scenario or "the canned model"
        if self.ok:
            return f"the verdict of {name} is ok"
        return f"the verdict of {name} is not ok:\n  " + "\n  ".join(self.findings)

    def to_dict(self) -> dict[str, Any]:
        return {
            "scenario": self.scenario,
            "ok": self.ok,
            "findings": list(self.findings),
            "warnings": list(self.warnings),
            "refusals": [r.to_dict() for r in self.refusals],
            "connections": [c.to_dict() for c in self.connections],
        }


__all__ = ["ConnectionVerdict", "Refusal", "ScenarioVerdict", "Unexpected", "Unmet"]
