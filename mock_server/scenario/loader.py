"""Reading scenario files: safe YAML, line numbers for every problem, confined fixture paths.

Only YAML's safe types are built (a tag such as ``!!python/object`` is an error, never an
object). The loader remembers where each value stood, so that a pydantic error on
``steps[2].respond.text`` is reported at its file and line, with a hint. Fixture paths resolve
against the scenario's folder and may not leave it (``../``, absolute paths, symlinks out);
``fixture:audio/x.wav`` names a file of the project's ``fixtures/`` folder instead.
"""

from __future__ import annotations

import difflib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError

from mock_server import resources
from mock_server.scenario.model import Scenario, Step

LIBRARY = resources.SCENARIOS
FIXTURES = resources.FIXTURES
FIXTURE_PREFIX = "fixture:"

Path_ = tuple[str | int, ...]
_PLAIN_TAGS = frozenset({"tag:yaml.org,2002:map", "tag:yaml.org,2002:seq"})


@dataclass(frozen=True)
class Problem:
    """One thing wrong with a scenario file, and where."""

    file: str
    line: int
    column: int
    message: str
    path: str = ""
    hint: str = ""

    def __str__(self) -> str:
        where = f" (at {self.path})" if self.path else ""
        hint = f" ({self.hint})" if self.hint else ""
        return f"{self.file}:{self.line}:{self.column}: {self.message}{where}{hint}"


@dataclass
class ScenarioError(Exception):
    """A scenario file that cannot be used; :attr:`problems` says why, with lines."""

    problems: list[Problem] = field(default_factory=list)

    def __str__(self) -> str:
        return "\n".join(str(p) for p in self.problems)


@dataclass
class LoadedScenario:
    """A validated scenario and where it came from."""

    scenario: Scenario
    source: str
    folder: Path
    lines: dict[Path_, int] = field(default_factory=dict)

    def fixture(self, reference: str) -> Path:
        return resolve_fixture(reference, self.folder)


def _compose(text: str, source: str) -> tuple[Any, dict[Path_, tuple[int, int]]]:
    """Safe YAML to Python values, with the (line, column) of every value by path."""
    try:
        node = yaml.compose(text, Loader=yaml.SafeLoader)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        line, column = (mark.line + 1, mark.column + 1) if mark else (1, 1)
        problem = getattr(exc, "problem", None) or str(exc)
        raise ScenarioError(
            [Problem(source, line, column, f"invalid YAML: {problem}", hint="check indentation")]
        ) from None
    where: dict[Path_, tuple[int, int]] = {}
    constructor = yaml.SafeLoader("")

    def refuse_tag(node: yaml.Node) -> ScenarioError:
        line, column = node.start_mark.line + 1, node.start_mark.column + 1
        return ScenarioError(
            [
                Problem(
                    source,
                    line,
                    column,
                    f"YAML tag {node.tag!r} is not allowed",
                    hint="scenarios are plain data: strings, numbers, lists and mappings",
                )
            ]
        )

    def build(node: yaml.Node, path: Path_) -> Any:
        where[path] = (node.start_mark.line + 1, node.start_mark.column + 1)
        if isinstance(node, yaml.MappingNode | yaml.SequenceNode) and node.tag not in _PLAIN_TAGS:
            raise refuse_tag(node)
        if isinstance(node, yaml.MappingNode):
            out: dict[Any, Any] = {}
            for key_node, value_node in node.value:
                key = build(key_node, (*path, "<key>"))
                out[key] = build(value_node, (*path, key))
                where[(*path, key)] = (key_node.start_mark.line + 1, key_node.start_mark.column + 1)
            return out
        if isinstance(node, yaml.SequenceNode):
            return [build(item, (*path, i)) for i, item in enumerate(node.value)]
        try:
            return constructor.construct_object(node, deep=True)
        except yaml.constructor.ConstructorError as exc:
            raise refuse_tag(node) from exc

    if node is None:
        return {}, where
    return build(node, ()), where


def _line_of(path: Path_, where: dict[Path_, tuple[int, int]]) -> tuple[int, int]:
    for end in range(len(path), -1, -1):
        if path[:end] in where:
            return where[path[:end]]
    return (1, 1)


def _dotted(path: Path_) -> str:
    out = ""
    for part in path:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out


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
    text: str, source: str = "<scenario>", folder: Path | None = None
) -> LoadedScenario:
    """Parse and validate a scenario; raises :class:`ScenarioError` listing every problem."""
    data, where = _compose(text, source)
    if not isinstance(data, dict):
        raise ScenarioError(
            [Problem(source, 1, 1, "a scenario is a mapping (name: ..., steps: ...)")]
        )
    try:
        scenario = Scenario.model_validate(data)
    except ValidationError as exc:
        problems = []
        for error in exc.errors(include_url=False):
            path = tuple(p for p in error["loc"] if not _is_union_tag(p))
            line, column = _line_of(path, where)
            message = error["msg"].removeprefix("Value error, ")
            if error["type"] == "extra_forbidden":
                message = f"unknown field {path[-1]!r}"
            elif error["type"] == "missing":
                message = f"missing field {path[-1]!r}"
            elif "input" in error and error["type"] not in ("value_error",):
                message = f"{message}, got {error['input']!r}"
            problems.append(
                Problem(source, line, column, message, _dotted(path), _hint(error, data))
            )
        raise ScenarioError(_dedupe(problems)) from None
    loaded = LoadedScenario(scenario, source, folder or Path.cwd())
    loaded.lines = {path: line for path, (line, _) in where.items()}
    _check_fixtures(loaded, where)
    return loaded


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


def _check_fixtures(loaded: LoadedScenario, where: dict[Path_, tuple[int, int]]) -> None:
    scenario = loaded.scenario
    references = _audio_references(scenario.steps, ("steps",))
    for n, connection in enumerate(scenario.connections or []):
        references += _audio_references(connection.steps or [], ("connections", n, "steps"))
    for n, rule in enumerate(scenario.rules):
        references += _audio_references(rule.do, ("rules", n, "do"))
    problems = []
    for reference, path in references:
        try:
            loaded.fixture(reference)
        except ValueError as exc:
            line, column = _line_of(path, where)
            problems.append(Problem(loaded.source, line, column, str(exc), _dotted(path)))
    if problems:
        raise ScenarioError(problems)


def load_scenario(path: str | Path) -> LoadedScenario:
    """Load a scenario file (see :func:`resolve_scenario` for library names)."""
    file = Path(path)
    try:
        text = file.read_text(encoding="utf-8")
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
