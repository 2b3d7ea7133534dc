"""A deterministic value that satisfies a JSON Schema: the canned model's tool arguments.

When ``tool_choice`` forces a tool and no scenario says what the model passes, the mock calls
the tool with :func:`example_for_schema` of its ``parameters``, so that a client that validates
arguments against its own schema accepts them. Supported: ``type`` (object, array, string,
number, integer, boolean, null, and lists of types), ``enum``, ``const``, ``default``,
``examples``, ``properties`` with ``required`` (all declared properties are filled), ``items``,
``minItems``, ``minimum``/``maximum``/``exclusiveMinimum``/``exclusiveMaximum``, ``multipleOf``,
``minLength``/``maxLength``, common string ``format``s, ``anyOf``/``oneOf``/``allOf``, and
``$ref`` into ``#/definitions`` or ``#/$defs``.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

_FORMATS = {
    "date": "2026-01-01",
    "date-time": "2026-01-01T12:00:00Z",
    "time": "12:00:00",
    "email": "user@example.com",
    "uri": "https://example.com",
    "url": "https://example.com",
    "uuid": "00000000-0000-4000-8000-000000000000",
    "hostname": "example.com",
    "ipv4": "127.0.0.1",
    "ipv6": "::1",
}
_MAX_DEPTH = 12


def example_for_schema(schema: Mapping[str, Any]) -> Any:
    """A value valid against ``schema``.

    >>> example_for_schema({"type": "object", "properties": {
    ...     "city": {"type": "string"}, "unit": {"enum": ["c", "f"]}}, "required": ["city"]})
    {'city': 'example', 'unit': 'c'}
    """
    return _example(schema, schema, 0)


def _resolve(ref: str, root: Mapping[str, Any]) -> Mapping[str, Any]:
    node: Any = root
    for part in ref.removeprefix("#/").split("/"):
        if not isinstance(node, Mapping) or part not in node:
            return {}
        node = node[part]
    return node if isinstance(node, Mapping) else {}


def _example(schema: Mapping[str, Any], root: Mapping[str, Any], depth: int) -> Any:
    if depth > _MAX_DEPTH:
        return None
    if "$ref" in schema:
        return _example(_resolve(str(schema["$ref"]), root), root, depth + 1)
    if "const" in schema:
        return schema["const"]
    if "default" in schema:
        return schema["default"]
    examples = schema.get("examples")
    if isinstance(examples, list) and examples:
        return examples[0]
    if isinstance(schema.get("enum"), list) and schema["enum"]:
        return schema["enum"][0]
    for key in ("anyOf", "oneOf"):
        options = schema.get(key)
        if isinstance(options, list) and options:
            return _example(options[0], root, depth + 1)
    if isinstance(schema.get("allOf"), list):
        merged: dict[str, Any] = {}
        for part in schema["allOf"]:
            for name, value in part.items():
                if name in ("properties",) and name in merged:
                    merged[name] = {**merged[name], **value}
                elif name == "required" and name in merged:
                    merged[name] = [*merged[name], *value]
                else:
                    merged[name] = value
        rest = {k: v for k, v in schema.items() if k != "allOf"}
        return _example({**merged, **rest}, root, depth + 1)
    kind = schema.get("type")
    if isinstance(kind, list):
        kind = next((k for k in kind if k != "null"), kind[0] if kind else None)
    if kind is None:
        kind = "object" if "properties" in schema else "string"
    if kind == "object":
        properties = schema.get("properties") or {}
        return {name: _example(sub, root, depth + 1) for name, sub in properties.items()}
    if kind == "array":
        items = schema.get("items") or {}
        count = max(int(schema.get("minItems", 1)), 1 if items else 0)
        if "maxItems" in schema:
            count = min(count, int(schema["maxItems"]))
        return [_example(items, root, depth + 1) for _ in range(count)]
    if kind in ("number", "integer"):
        return _number(schema, integer=kind == "integer")
    if kind == "boolean":
        return True
    if kind == "null":
        return None
    return _string(schema)


def _number(schema: Mapping[str, Any], *, integer: bool) -> int | float:
    low = schema.get("minimum")
    high = schema.get("maximum")
    if "exclusiveMinimum" in schema and isinstance(schema["exclusiveMinimum"], int | float):
        low = schema["exclusiveMinimum"] + (1 if integer else 1e-6)
    if "exclusiveMaximum" in schema and isinstance(schema["exclusiveMaximum"], int | float):
        high = schema["exclusiveMaximum"] - (1 if integer else 1e-6)
    value: float = 1.0
    if low is not None and value < low:
        value = float(low)
    if high is not None and value > high:
        value = float(high)
    step = schema.get("multipleOf")
    if isinstance(step, int | float) and step > 0:
        value = math.ceil(value / step) * step
        if high is not None and value > high:
            value -= step
    if integer:
        rounded = math.ceil(value) if low is not None else math.floor(value)
        return int(rounded)
    return value


def _string(schema: Mapping[str, Any]) -> str:
    value = _FORMATS.get(str(schema.get("format", "")), "example")
    minimum = int(schema.get("minLength", 0))
    if len(value) < minimum:
        value = value + "x" * (minimum - len(value))
    if "maxLength" in schema:
        value = value[: int(schema["maxLength"])]
    return value
