"""Reading scenario files: safe YAML, line numbers for every problem, confined fixture paths.

Only YAML's safe types are built, and a file is bounded in size, nesting and aliases before
anything is built (:mod:`~mock_server.scenario.yaml_source`). The loader remembers where each
value stood, so that a pydantic error on ``steps[2].respond.text`` is reported at its file and
line, with a hint. Fixture paths resolve against the scenario's folder and may not leave it
(:mod:`~mock_server.scenario.fixtures`). A valid scenario is then checked as a whole
(:mod:`mock_server.scenario.checks`: event types, captures, how far it unrolls). Library
scenarios are found by name (:func:`resolve_scenario`).
"""

from __future__ import annotations

import difflib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from mock_server import resources
from mock_server.scenario.checks import scenario_defects
from mock_server.scenario.fixtures import (
    FIXTURE_PREFIX,
    FIXTURES,
    fixture_problems,
    resolve_fixture,
)
from mock_server.scenario.model import Scenario, Step
from mock_server.scenario.yaml_source import (
    MAX_ALIAS_VALUES,
    MAX_ALIASES,
    MAX_DEPTH,
    MAX_FILE_BYTES,
    Path_,
    Problem,
    ScenarioError,
    compose,
    dotted,
    line_of,
)

LIBRARY = resources.SCENARIOS


@dataclass
class LoadedScenario:
    """A validated scenario and where it came from."""

    scenario: Scenario
    source: str
    folder: Path
    lines: dict[Path_, int] = field(default_factory=dict)

    def fixture(self, reference: str) -> Path:
        return resolve_fixture(reference, self.folder)


def _known_prefix(path: Path_, where: dict[Path_, tuple[int, int]]) -> int:
    return next((end for end in range(len(path), -1, -1) if path[:end] in where), 0)


def _in_file(path: Path_, where: dict[Path_, tuple[int, int]]) -> Path_:
    """The path as the file writes it: fields to match may stand inline in an expect or a
    rule's when, beside ``type`` (the model keeps them under ``match``)."""
    for k in range(1, len(path)):
        if path[k] == "match" and path[k - 1] in ("expect", "when"):
            inline = path[:k] + path[k + 1 :]
            if _known_prefix(inline, where) > _known_prefix(path, where):
                return inline
            break
    return path


def _hint(error: Any, data: Any) -> str:
    loc = tuple(error["loc"])
    if error["type"] == "extra_forbidden" and loc:
        wrong = str(loc[-1])
        parent_is_step = len(loc) >= 2 and (loc[-2] == "steps" or isinstance(loc[-2], int))
        choices = list(Step.model_fields) if parent_is_step else []
        close = difflib.get_close_matches(wrong, choices, n=1)
        if close:
            return f"did you mean {close[0]!r}?"
        if parent_is_step:
            return "a step is one of: " + ", ".join(Step.model_fields)
    return ""


def load_scenario_text(
    text: str, source: str = "<scenario>", folder: Path | None = None, *, checked: bool = True
) -> LoadedScenario:
    """Parse and validate a scenario; raises :class:`ScenarioError` listing every problem.

    ``checked=False`` skips the checks across fields (:mod:`mock_server.scenario.checks`: event
    types, captures, unrolled size), to test what a run does with a scenario they would refuse;
    the file's bounds and the models' own still hold.
    """
    if len(text) > MAX_FILE_BYTES or len(text.encode("utf-8", "surrogatepass")) > MAX_FILE_BYTES:
        raise ScenarioError([_too_big(source)])
    data, where = compose(text, source)
    if not isinstance(data, dict):
        raise ScenarioError(
            [Problem(source, 1, 1, "a scenario is a mapping (name: ..., steps: ...)")]
        )
    try:
        scenario = Scenario.model_validate(data)
    except ValidationError as exc:
        problems = []
        for error in exc.errors(include_url=False):
            path = _data_path(tuple(error["loc"]), data)
            line, column = line_of(path, where)
            message = error["msg"].removeprefix("Value error, ")
            if error["type"] == "extra_forbidden":
                message = f"unknown field {path[-1] if path else '?'!r}"
            elif error["type"] == "missing":
                message = f"missing field {path[-1] if path else '?'!r}"
            elif "input" in error and error["type"] not in ("value_error", "scenario_bound"):
                message = f"{message}, got {error['input']!r}"
            hint = (error.get("ctx") or {}).get("hint") or _hint(error, data)
            problems.append(Problem(source, line, column, message, dotted(path), str(hint)))
        raise ScenarioError(_dedupe(problems)) from None
    loaded = LoadedScenario(scenario, source, folder or Path.cwd())
    loaded.lines = {path: line for path, (line, _) in where.items()}
    problems = []
    for defect in scenario_defects(scenario) if checked else []:
        path = _in_file(defect.path, where)
        line, column = line_of(path, where)
        problems.append(Problem(source, line, column, defect.message, dotted(path), defect.hint))
    problems += fixture_problems(scenario, source, loaded.folder, where)
    if problems:
        raise ScenarioError(problems)
    return loaded


def _too_big(source: str) -> Problem:
    return Problem(
        source,
        1,
        1,
        f"the file is larger than {MAX_FILE_BYTES // (1024 * 1024)} MiB, the most a scenario "
        "may be",
        hint="keep audio in WAV fixtures; split long sessions into several scenarios",
    )


def _data_path(loc: Path_, data: Any) -> Path_:
    """Pydantic's ``loc`` without the union members it names (``str``, ``Expect``, ...); a key
    that the data holds is never taken for one, whatever its spelling."""
    path: list[str | int] = []
    current = data
    for part in loc:
        present = (isinstance(current, dict) and part in current) or (
            isinstance(current, list) and isinstance(part, int) and 0 <= part < len(current)
        )
        if not present and _is_union_tag(part):
            continue
        path.append(part)
        current = current[part] if present else None
    return tuple(path)


def _is_union_tag(part: Any) -> bool:
    return isinstance(part, str) and (
        part[:1].isupper() or part in ("str", "float", "int", "bool") or "[" in part
    )


def _dedupe(problems: list[Problem]) -> list[Problem]:
    seen: set[tuple[int, str]] = set()
    out = []
    for problem in problems:
        if (problem.line, problem.message) not in seen:
            seen.add((problem.line, problem.message))
            out.append(problem)
    return out


def load_scenario(path: str | Path) -> LoadedScenario:
    """Load a scenario file (see :func:`resolve_scenario` for library names)."""
    file = Path(path)
    try:
        with file.open("rb") as stream:
            # Read one byte past the bound, never the whole of a huge file (or of /dev/zero).
            data = stream.read(MAX_FILE_BYTES + 1)
        if len(data) > MAX_FILE_BYTES:
            raise ScenarioError([_too_big(str(file))])
        text = data.decode("utf-8")
    except OSError as exc:
        raise ScenarioError([Problem(str(file), 0, 0, f"cannot read: {exc.strerror}")]) from None
    except UnicodeDecodeError as exc:
        raise ScenarioError([Problem(str(file), 0, 0, f"not UTF-8 text: {exc.reason}")]) from None
    return load_scenario_text(text, str(file), file.parent)


def library() -> list[str]:
    """The names of the built-in scenarios."""
    return sorted(p.stem for p in LIBRARY.glob("*.yaml"))


def resolve_scenario(name_or_path: str) -> Path:
    """A library scenario by name (``function_call``), or a path to a file."""
    candidate = Path(name_or_path)
    if candidate.suffix in (".yaml", ".yml") or candidate.exists():
        return candidate
    in_library = LIBRARY / f"{name_or_path}.yaml"
    if in_library.exists():
        return in_library
    if not LIBRARY.is_dir():
        message = (
            f"no scenario named {name_or_path!r}: {resources.missing(LIBRARY, 'scenario library')}"
        )
        raise ScenarioError([Problem(name_or_path, 0, 0, message)])
    close = difflib.get_close_matches(name_or_path, library(), n=3)
    hint = f" Did you mean {', '.join(close)}?" if close else f" Known: {', '.join(library())}."
    raise ScenarioError([Problem(name_or_path, 0, 0, f"no scenario named {name_or_path!r}.{hint}")])


__all__ = [
    "FIXTURES",
    "FIXTURE_PREFIX",
    "LIBRARY",
    "MAX_ALIASES",
    "MAX_ALIAS_VALUES",
    "MAX_DEPTH",
    "MAX_FILE_BYTES",
    "LoadedScenario",
    "Problem",
    "ScenarioError",
    "library",
    "load_scenario",
    "load_scenario_text",
    "resolve_fixture",
    "resolve_scenario",
]
