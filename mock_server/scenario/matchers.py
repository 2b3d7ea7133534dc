"""Matching client events against ``expect`` specs: plain functions a user can extend.

A spec is matched against a value recursively: a mapping matches a mapping partially (keys the
spec does not name are ignored), a list matches a list element by element, and anything else
must be equal, except for these special forms:

- ``any``: the key must be present (any value);
- ``absent``: the key must not be present;
- ``{regex: PATTERN}``: a string that the pattern matches (``re.search``);
- ``{gte: N}``, ``{gt: N}``, ``{lte: N}``, ``{lt: N}`` (combinable): a number in range;
- ``{contains: X}``: a list with an element matching X (or a string containing X).

Register more with :func:`register`, e.g.
``register("startswith", lambda arg, v: str(v).startswith(arg))``.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

_MISSING = object()
Operator = Callable[[Any, Any], bool]


@dataclass(frozen=True)
class Mismatch:
    path: str
    expected: str
    actual: str

    def __str__(self) -> str:
        return f"{self.path or '(event)'}: expected {self.expected}, got {self.actual}"


def _number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


OPERATORS: dict[str, Operator] = {
    "regex": lambda arg, v: isinstance(v, str) and re.search(str(arg), v) is not None,
    "gte": lambda arg, v: _number(v) and v >= arg,
    "gt": lambda arg, v: _number(v) and v > arg,
    "lte": lambda arg, v: _number(v) and v <= arg,
    "lt": lambda arg, v: _number(v) and v < arg,
    "contains": lambda arg, v: (
        (isinstance(v, str) and isinstance(arg, str) and arg in v)
        or (isinstance(v, list) and any(not match(arg, item) for item in v))
    ),
}


def register(name: str, operator: Operator) -> None:
    """Add an operator usable as ``{name: argument}`` in specs."""
    OPERATORS[name] = operator


def _is_operator(spec: Any) -> bool:
    return isinstance(spec, Mapping) and bool(spec) and all(k in OPERATORS for k in spec)


def _show(value: Any) -> str:
    if value is _MISSING:
        return "nothing (absent)"
    text = repr(value)
    return text if len(text) <= 80 else text[:77] + "..."


def match(spec: Any, actual: Any, path: str = "") -> list[Mismatch]:
    """Where ``actual`` differs from ``spec`` (empty when it matches).

    >>> match({"item": {"type": "message"}}, {"item": {"type": "message", "id": "x"}})
    []
    >>> [str(m) for m in match({"n": {"gte": 3}}, {"n": 1})]
    ["n: expected {'gte': 3}, got 1"]
    """
    if spec == "any":
        return [] if actual is not _MISSING else [Mismatch(path, "any value", "nothing")]
    if spec == "absent":
        return [] if actual is _MISSING else [Mismatch(path, "absent", _show(actual))]
    if _is_operator(spec):
        ok = actual is not _MISSING and all(OPERATORS[k](v, actual) for k, v in spec.items())
        return [] if ok else [Mismatch(path, repr(dict(spec)), _show(actual))]
    if isinstance(spec, Mapping):
        if not isinstance(actual, Mapping):
            return [Mismatch(path, "an object", _show(actual))]
        found: list[Mismatch] = []
        for key, sub in spec.items():
            here = f"{path}.{key}" if path else str(key)
            found += match(sub, actual.get(key, _MISSING), here)
        return found
    if isinstance(spec, list):
        if not isinstance(actual, list) or len(actual) != len(spec):
            return [Mismatch(path, f"a list of {len(spec)}", _show(actual))]
        found = []
        for index, (sub, item) in enumerate(zip(spec, actual, strict=True)):
            found += match(sub, item, f"{path}[{index}]")
        return found
    return [] if spec == actual else [Mismatch(path, _show(spec), _show(actual))]


def get_path(event: Mapping[str, Any], dotted: str) -> Any:
    """The value at ``item.content[0].text`` in ``event`` (None when absent)."""
    node: Any = event
    for part in re.findall(r"[^.\[\]]+|\[\d+\]", dotted):
        if part.startswith("["):
            index = int(part[1:-1])
            node = node[index] if isinstance(node, list) and index < len(node) else None
        else:
            node = node.get(part) if isinstance(node, Mapping) else None
        if node is None:
            return None
    return node
