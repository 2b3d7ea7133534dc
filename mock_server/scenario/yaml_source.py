"""Reading a scenario file's YAML safely, remembering the line and column of every value.

Only YAML's safe types are built (a tag such as ``!!python/object`` is an error, never an
object). A file is bounded in size, nesting and aliases before anything is built (a YAML bomb is
a problem with its line, not minutes and gigabytes). :class:`Problem` and :class:`ScenarioError`
are how every problem of a scenario file is reported, here and by the loader.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field
from typing import Any, cast

import yaml

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


def compose(text: str, source: str) -> tuple[Any, dict[Path_, tuple[int, int]]]:
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
        if isinstance(value, float) and not math.isfinite(value):
            raise _problem_at(
                source,
                node.start_mark,
                f"{node.value!r} is not a finite number: JSON, and so the Realtime API's "
                "events, has no NaN or infinity",
                hint="write a number, or null",
            )
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


def line_of(path: Path_, where: dict[Path_, tuple[int, int]]) -> tuple[int, int]:
    for end in range(len(path), -1, -1):
        if path[:end] in where:
            return where[path[:end]]
    return (1, 1)


def dotted(path: Path_) -> str:
    out = ""
    for part in path:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out


__all__ = [
    "MAX_ALIASES",
    "MAX_ALIAS_VALUES",
    "MAX_DEPTH",
    "MAX_FILE_BYTES",
    "Path_",
    "Problem",
    "ScenarioError",
    "compose",
    "dotted",
    "line_of",
]
