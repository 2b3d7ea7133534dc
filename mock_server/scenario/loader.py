"""Reading scenario files: safe YAML, line numbers for every problem, confined fixture paths.

Only YAML's safe types are built (a tag such as ``!!python/object`` is an error, never an
object). The loader remembers where each value stood, so that a pydantic error on
``steps[2].respond.text`` is reported at its file and line, with a hint. Fixture paths resolve
against the scenario's folder and may not leave it (``../``, absolute paths, symlinks out);
``fixture:audio/x.wav`` names a file of the project's ``fixtures/`` folder instead. A file is
bounded in size, nesting and aliases before anything is built (a YAML bomb is a problem with its
line, not minutes and gigabytes), and a valid scenario is then checked as a whole
(:mod:`mock_server.scenario.checks`: event types, captures, how far it unrolls).
"""

from __future__ import annotations

import difflib
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, cast

import yaml
from pydantic import ValidationError

from mock_server import resources
from mock_server.scenario.checks import scenario_defects
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


# Bounds of a scenario file (docs/scenarios.md, "Checks and bounds"): yaml.safe_load builds no
# objects, but aliases still expand exponentially (a 1 KB "billion laughs" file is gigabytes once
# built) and PyYAML composes recursively. The file is composed here from the parser's events, in
# a loop, counting as it goes; nothing is built before the tree is known to be within bounds.
MAX_FILE_BYTES = 4 * 1024 * 1024
MAX_DEPTH = 100
MAX_ALIASES = 1_000
MAX_ALIAS_VALUES = 100_000
_FLOW_MARKS = re.compile(r"[\[\]{}\"'\\#]")


@dataclass
class _Open:
    """A mapping or sequence whose end event has not come yet."""

    node: yaml.MappingNode | yaml.SequenceNode
    anchor: str | None
    key: yaml.Node | None = None
    size: int = 1
    height: int = 1


def _problem_at(source: str, mark: Any, message: str, hint: str = "") -> ScenarioError:
    line, column = (mark.line + 1, mark.column + 1) if mark is not None else (1, 1)
    return ScenarioError([Problem(source, line, column, message, hint=hint)])


def _deep_flow_line(text: str) -> int | None:
    """Where a line has more than :data:`MAX_DEPTH` flow brackets open (quotes and comments
    skipped, roughly as YAML reads them), if one does; lines with fewer openers are not read."""
    if text.count("[") + text.count("{") <= MAX_DEPTH:
        return None
    start = 0
    for line in text.split("\n"):
        if line.count("[") + line.count("{") > MAX_DEPTH:
            depth, quote, escaped = 0, "", -1
            for mark in _FLOW_MARKS.finditer(line):
                char, at = mark.group(), mark.start()
                if quote:
                    if char == "\\" and quote == '"' and at != escaped:
                        escaped = at + 1
                    elif char == quote and at != escaped:
                        quote = ""
                elif char in "\"'":
                    quote = char
                elif char == "#" and (at == 0 or line[at - 1] in " \t"):
                    break
                elif char in "[{":
                    depth += 1
                    if depth > MAX_DEPTH:
                        return start + at
                elif char in "]}":
                    depth = max(0, depth - 1)
        start += len(line) + 1
    return None


def _mark(text: str, position: int) -> yaml.Mark:
    line = text.count("\n", 0, position)
    column = position - (text.rfind("\n", 0, position) + 1)
    return yaml.Mark("", position, line, column, None, 0)


def _compose_bounded(text: str, source: str) -> yaml.Node | None:
    """The YAML node tree of ``text``, refusing what breaks the bounds; aliases stay shared
    nodes (as PyYAML composes them), with their expanded size and depth counted."""
    deep = _deep_flow_line(text)
    if deep is not None:
        # PyYAML's scanner is quadratic in the brackets open on one line (each may start a
        # key until the line ends): refuse such a line before the parser reads it.
        raise _problem_at(
            source,
            _mark(text, deep),
            f"nested deeper than {MAX_DEPTH} levels (brackets open on one line)",
            hint="a scenario is a few levels deep; is a bracket left open?",
        )
    try:
        loader = yaml.SafeLoader(text)  # reads the whole text: refuses control characters
    except yaml.reader.ReaderError as exc:
        raise _problem_at(
            source,
            _mark(text, exc.position),
            f"invalid YAML: unacceptable character #x{exc.character:04x}",
            hint="control characters are not allowed; write them as escapes in double quotes",
        ) from None
    stream: Any = loader  # PyYAML's parser and resolver are untyped
    size: dict[int, tuple[int, int]] = {}  # id(node) -> (values once expanded, height)
    anchors: dict[str, yaml.Node] = {}
    opened: list[_Open] = []
    root: yaml.Node | None = None
    documents = aliases = alias_values = 0

    def add(node: yaml.Node, mark: Any) -> None:
        nonlocal root
        values, height = size[id(node)]
        if not opened:
            root = node
            return
        parent = opened[-1]
        parent.size += values
        parent.height = max(parent.height, height + 1)
        if isinstance(parent.node, yaml.SequenceNode):
            parent.node.value.append(node)
        elif parent.key is None:
            if not isinstance(node, yaml.ScalarNode):
                raise _problem_at(
                    source,
                    mark,
                    "a mapping key must be a plain value (a string or a number)",
                    hint="a list or a mapping cannot be a key",
                )
            parent.key = node
        else:
            parent.node.value.append((parent.key, node))
            parent.key = None

    try:
        while not loader.check_event(yaml.StreamEndEvent):
            event = stream.get_event()
            mark: Any = event.start_mark
            if isinstance(event, yaml.StreamStartEvent | yaml.DocumentEndEvent):
                continue
            if isinstance(event, yaml.DocumentStartEvent):
                documents += 1
                if documents > 1:
                    raise _problem_at(
                        source, mark, "a scenario file holds one YAML document", hint="no ---"
                    )
                continue
            if isinstance(event, yaml.AliasEvent):
                if any(o.anchor == event.anchor for o in opened):
                    raise _problem_at(
                        source,
                        mark,
                        f"recursive alias *{event.anchor}: the anchor is used inside itself",
                        hint="a scenario is a tree: repeat the values instead",
                    )
                if event.anchor not in anchors:
                    raise _problem_at(source, mark, f"undefined alias *{event.anchor}")
                node = anchors[event.anchor]
                values, height = size[id(node)]
                aliases += 1
                alias_values += values
                if aliases > MAX_ALIASES:
                    raise _problem_at(
                        source,
                        mark,
                        f"more than {MAX_ALIASES:,} aliases",
                        hint="aliases are for a few shared values; write the rest out",
                    )
                if alias_values > MAX_ALIAS_VALUES:
                    raise _problem_at(
                        source,
                        mark,
                        f"aliases expand to more than {MAX_ALIAS_VALUES:,} values "
                        f"(*{event.anchor} alone is {values:,})",
                        hint="aliases of aliases grow exponentially: write the values out",
                    )
                if len(opened) + height > MAX_DEPTH:
                    raise _problem_at(
                        source,
                        mark,
                        f"alias *{event.anchor} nests the file deeper than {MAX_DEPTH} levels",
                    )
                add(node, mark)
                continue
            tag = getattr(event, "tag", None)
            if isinstance(event, yaml.ScalarEvent):
                if tag is None or tag == "!":
                    tag = stream.resolve(yaml.ScalarNode, event.value, event.implicit)
                node = yaml.ScalarNode(
                    tag, event.value, mark, cast(Any, event.end_mark), event.style
                )
                size[id(node)] = (1, 1)
                if event.anchor is not None:
                    anchors[event.anchor] = node
                add(node, mark)
            elif isinstance(event, yaml.SequenceStartEvent | yaml.MappingStartEvent):
                if len(opened) >= MAX_DEPTH:
                    raise _problem_at(
                        source,
                        mark,
                        f"nested deeper than {MAX_DEPTH} levels",
                        hint="a scenario is a few levels deep; is a bracket left open?",
                    )
                kind = yaml.SequenceNode if isinstance(event, yaml.SequenceStartEvent) else None
                collection: yaml.MappingNode | yaml.SequenceNode
                if kind is not None:
                    if tag is None or tag == "!":
                        tag = stream.resolve(yaml.SequenceNode, None, event.implicit)
                    collection = yaml.SequenceNode(tag, [], mark, None, event.flow_style)
                else:
                    if tag is None or tag == "!":
                        tag = stream.resolve(yaml.MappingNode, None, event.implicit)
                    collection = yaml.MappingNode(tag, [], mark, None, event.flow_style)
                opened.append(_Open(collection, event.anchor))
            elif isinstance(event, yaml.SequenceEndEvent | yaml.MappingEndEvent):
                done = opened.pop()
                done.node.end_mark = event.end_mark
                size[id(done.node)] = (done.size, done.height)
                if done.anchor is not None:
                    anchors[done.anchor] = done.node
                add(done.node, done.node.start_mark)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        problem = getattr(exc, "problem", None) or str(exc)
        raise _problem_at(
            source, mark, f"invalid YAML: {problem}", hint="check indentation"
        ) from None
    finally:
        loader.dispose()
    return root


def _compose(text: str, source: str) -> tuple[Any, dict[Path_, tuple[int, int]]]:
    """Safe YAML to Python values, with the (line, column) of every value by path."""
    root = _compose_bounded(text, source)
    where: dict[Path_, tuple[int, int]] = {}
    constructor = yaml.SafeLoader("")

    def refuse_tag(node: yaml.Node) -> ScenarioError:
        return _problem_at(
            source,
            node.start_mark,
            f"YAML tag {node.tag!r} is not allowed",
            hint="scenarios are plain data: strings, numbers, lists and mappings",
        )

    # Recursion is bounded: _compose_bounded refused a tree deeper than MAX_DEPTH, aliases
    # included, and one whose aliases expand beyond MAX_ALIAS_VALUES.
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
        if node.tag not in constructor.yaml_constructors:
            raise refuse_tag(node)
        try:
            value = constructor.construct_object(node, deep=True)
        except Exception:  # PyYAML's scalar constructors raise ValueError, KeyError and others
            shown = node.value if len(node.value) <= 60 else node.value[:60] + "..."
            tag = node.tag.replace("tag:yaml.org,2002:", "!!")
            raise _problem_at(source, node.start_mark, f"{shown!r} is not a valid {tag}") from None
        if isinstance(value, str) and not _is_utf8(value):
            raise _problem_at(
                source,
                node.start_mark,
                "a lone surrogate (an escape such as \\ud800) cannot be sent as UTF-8",
                hint="write the character itself, or a valid pair of escapes",
            )
        return value

    if root is None:
        return {}, where
    return build(root, ()), where


def _is_utf8(text: str) -> bool:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def _line_of(path: Path_, where: dict[Path_, tuple[int, int]]) -> tuple[int, int]:
    for end in range(len(path), -1, -1):
        if path[:end] in where:
            return where[path[:end]]
    return (1, 1)


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
    text: str, source: str = "<scenario>", folder: Path | None = None, *, checked: bool = True
) -> LoadedScenario:
    """Parse and validate a scenario; raises :class:`ScenarioError` listing every problem.

    ``checked=False`` skips the checks across fields (:mod:`mock_server.scenario.checks`: event
    types, captures, unrolled size), to test what a run does with a scenario they would refuse;
    the file's bounds and the models' own still hold.
    """
    if len(text) > MAX_FILE_BYTES or len(text.encode("utf-8", "surrogatepass")) > MAX_FILE_BYTES:
        raise ScenarioError([_too_big(source)])
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
            path = _data_path(tuple(error["loc"]), data)
            line, column = _line_of(path, where)
            message = error["msg"].removeprefix("Value error, ")
            if error["type"] == "extra_forbidden":
                message = f"unknown field {path[-1] if path else '?'!r}"
            elif error["type"] == "missing":
                message = f"missing field {path[-1] if path else '?'!r}"
            elif "input" in error and error["type"] not in ("value_error", "scenario_bound"):
                message = f"{message}, got {error['input']!r}"
            hint = (error.get("ctx") or {}).get("hint") or _hint(error, data)
            problems.append(Problem(source, line, column, message, _dotted(path), str(hint)))
        raise ScenarioError(_dedupe(problems)) from None
    loaded = LoadedScenario(scenario, source, folder or Path.cwd())
    loaded.lines = {path: line for path, (line, _) in where.items()}
    problems = []
    for defect in scenario_defects(scenario) if checked else []:
        path = _in_file(defect.path, where)
        line, column = _line_of(path, where)
        problems.append(Problem(source, line, column, defect.message, _dotted(path), defect.hint))
    problems += _fixture_problems(loaded, where)
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


def _fixture_problems(loaded: LoadedScenario, where: dict[Path_, tuple[int, int]]) -> list[Problem]:
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
    return problems


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
