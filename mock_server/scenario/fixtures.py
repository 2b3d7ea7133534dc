"""Fixture paths: what a scenario's audio reference names, confined to where it may look.

A path resolves against the scenario's folder and may not leave it (``../``, absolute paths,
symlinks out); ``fixture:audio/x.wav`` names a file of the project's ``fixtures/`` folder
instead. Every reference of a scenario is checked when it loads, each problem at its line.
"""

from __future__ import annotations

from pathlib import Path

from mock_server import resources
from mock_server.scenario.model import Scenario, Step
from mock_server.scenario.yaml_source import Path_, Problem, dotted, line_of

FIXTURES = resources.FIXTURES
FIXTURE_PREFIX = "fixture:"


def resolve_fixture(reference: str, folder: Path) -> Path:
    """The file a scenario's fixture reference names; raises ValueError if it is not allowed."""
    if reference.startswith(FIXTURE_PREFIX):
        base = FIXTURES.resolve()
        target = (base / reference[len(FIXTURE_PREFIX) :]).resolve()
    else:
        if Path(reference).is_absolute():
            raise ValueError(
                f"absolute fixture path {reference!r}: use a path relative to the scenario"
            )
        base = folder.resolve()
        target = (base / reference).resolve()
    if not target.is_relative_to(base):
        raise ValueError(
            f"fixture path {reference!r} leaves the scenario's folder {base}: keep fixtures "
            "beside the scenario, or name project fixtures as fixture:audio/NAME.wav"
        )
    if not target.is_file():
        raise ValueError(f"fixture {reference!r} not found (looked for {target})")
    return target


def _audio_references(steps: list[Step], path: Path_) -> list[tuple[str, Path_]]:
    found: list[tuple[str, Path_]] = []
    for index, step in enumerate(steps):
        here = (*path, index)
        if step.expect is not None and step.expect.audio:
            found.append((step.expect.audio, (*here, "expect", "audio")))
        if step.respond is not None:
            if step.respond.audio:
                found.append((step.respond.audio, (*here, "respond", "audio")))
            for n, item in enumerate(step.respond.items or []):
                if item.audio:
                    found.append((item.audio, (*here, "respond", "items", n, "audio")))
        for group in ("any_order", "optional"):
            inner = getattr(step, group)
            if inner:
                found += _audio_references(inner, (*here, group))
        if step.repeat is not None:
            found += _audio_references(step.repeat.steps, (*here, "repeat", "steps"))
    return found


def fixture_problems(
    scenario: Scenario, source: str, folder: Path, where: dict[Path_, tuple[int, int]]
) -> list[Problem]:
    """A problem, at its line, for each audio reference of ``scenario`` that does not resolve."""
    references = _audio_references(scenario.steps, ("steps",))
    for n, connection in enumerate(scenario.connections or []):
        references += _audio_references(connection.steps or [], ("connections", n, "steps"))
    for n, rule in enumerate(scenario.rules):
        references += _audio_references(rule.do, ("rules", n, "do"))
    problems = []
    for reference, path in references:
        try:
            resolve_fixture(reference, folder)
        except ValueError as exc:
            line, column = line_of(path, where)
            problems.append(Problem(source, line, column, str(exc), dotted(path)))
    return problems


__all__ = ["FIXTURES", "FIXTURE_PREFIX", "fixture_problems", "resolve_fixture"]
