"""A deterministic value that satisfies a JSON Schema: the canned model's tool arguments.

When ``tool_choice`` forces a tool and no scenario says what the model passes, the mock calls
the tool with :func:`example_for_schema` of its ``parameters``, so that a client that validates
arguments against its own schema accepts them. Supported: ``type`` (object, array, string,
number, integer, boolean, null, and lists of types), ``enum``, ``const``, ``default``,
``examples``, ``properties`` with ``required``, ``items``, ``minItems``/``maxItems``,
``minimum``/``maximum``/``exclusiveMinimum``/``exclusiveMaximum``, ``multipleOf``,
``minLength``/``maxLength``, common string ``format``s, ``anyOf``/``oneOf``/``allOf``, and
``$ref`` into the schema itself (``#/definitions``, ``#/$defs``).

The schema is the client's, so what it may cost is bounded: the arguments are at most
:data:`MAX_ARGUMENTS_BYTES` of JSON and :data:`MAX_ARGUMENT_VALUES` values, nest at most
:data:`MAX_DEPTH` levels, and follow at most :data:`MAX_REF_EXPANSIONS` ``$ref``\\ s. Required
properties are always filled; optional ones while the arguments are small and shallow (so that a
``$ref`` cycle through optional properties ends). A schema that asks for more than the bounds, that
nothing satisfies, or that is not a readable schema raises :class:`SchemaError`, which says what
and where.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from mock_server.protocol.schema_checks import (
    SchemaError,
    json_size,
    number_within,
    read_count,
    shown,
)

__all__ = ["MAX_ARGUMENTS_BYTES", "SchemaError", "example_for_schema"]

MAX_ARGUMENTS_BYTES = 16 * 1024
MAX_ARGUMENT_VALUES = 1000
MAX_DEPTH = 12
MAX_REF_EXPANSIONS = 100
# Optional properties are filled only above this depth and while the arguments use less than
# half of the bounds; past that they are left out (valid: they are optional).
_OPTIONAL_DEPTH = 4
# Schema nodes visited in all, including those of optional properties left out: the work bound.
_MAX_STEPS = 20 * MAX_ARGUMENT_VALUES

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
_TYPES = frozenset({"object", "array", "string", "number", "integer", "boolean", "null"})


@dataclass
class _Budget:
    bytes: int = 0
    values: int = 0
    refs: int = 0
    steps: int = 0

    def snapshot(self) -> tuple[int, int, int]:
        return self.bytes, self.values, self.refs

    def restore(self, saved: tuple[int, int, int]) -> None:
        self.bytes, self.values, self.refs = saved

    def spend(self, path: str, size: int, values: int = 1) -> None:
        self.bytes += size
        self.values += values
        if self.bytes > MAX_ARGUMENTS_BYTES:
            raise SchemaError(
                "too_large",
                path,
                f"the arguments would be over {MAX_ARGUMENTS_BYTES} bytes of JSON, the most "
                "the mock generates",
            )
        if self.values > MAX_ARGUMENT_VALUES:
            raise SchemaError(
                "too_large",
                path,
                f"the arguments would hold over {MAX_ARGUMENT_VALUES} values, the most the "
                "mock generates",
            )


def example_for_schema(schema: Any) -> Any:
    """A value valid against ``schema``, within the bounds; :class:`SchemaError` otherwise.

    >>> example_for_schema({"type": "object", "properties": {
    ...     "city": {"type": "string"}, "unit": {"enum": ["c", "f"]}}, "required": ["city"]})
    {'city': 'example', 'unit': 'c'}
    >>> example_for_schema({"type": "string", "minLength": 2000000})
    Traceback (most recent call last):
    ...
    mock_server.protocol.schema_checks.SchemaError: a string of minLength 2000000 is over \
the 16384 bytes of JSON the mock generates for arguments (at '/minLength')
    """
    return _Synthesis(schema).value(schema, "", 0)


class _Synthesis:
    def __init__(self, root: Any) -> None:
        self.root = root
        self.budget = _Budget()

    def value(self, schema: Any, path: str, depth: int) -> Any:
        budget = self.budget
        budget.steps += 1
        if budget.steps > _MAX_STEPS:
            raise SchemaError(
                "too_large", path, f"the schema needs more than {_MAX_STEPS} steps to satisfy"
            )
        if depth > MAX_DEPTH:
            raise SchemaError(
                "too_large",
                path,
                f"the arguments would nest deeper than {MAX_DEPTH} levels (a $ref cycle?)",
            )
        if schema is True or schema == {}:
            budget.spend(path, 9)
            return "example"
        if schema is False:
            raise SchemaError("unsatisfiable", path, "the schema 'false' accepts no value")
        if not isinstance(schema, Mapping):
            raise SchemaError(
                "unreadable",
                path,
                f"expected a schema (an object), got {type(schema).__name__} {shown(schema)}",
            )
        if "$ref" in schema:
            return self.value(self._resolve(schema["$ref"], path), f"{path}/$ref", depth + 1)
        for key in ("const", "default"):
            if key in schema:
                budget.spend(path, json_size(schema[key], f"{path}/{key}"))
                return schema[key]
        examples = schema.get("examples")
        if isinstance(examples, list) and examples:
            budget.spend(path, json_size(examples[0], f"{path}/examples/0"))
            return examples[0]
        if "enum" in schema:
            enum = schema["enum"]
            if not isinstance(enum, list):
                raise SchemaError("unreadable", f"{path}/enum", "'enum' must be a list")
            if not enum:
                raise SchemaError("unsatisfiable", f"{path}/enum", "an empty 'enum' allows nothing")
            budget.spend(path, json_size(enum[0], f"{path}/enum/0"))
            return enum[0]
        for key in ("anyOf", "oneOf"):
            if key in schema:
                options = schema[key]
                if not isinstance(options, list) or not options:
                    raise SchemaError(
                        "unreadable", f"{path}/{key}", f"'{key}' must be a non-empty list"
                    )
                return self.value(options[0], f"{path}/{key}/0", depth + 1)
        if "allOf" in schema:
            return self.value(self._merge_all_of(schema, path), path, depth + 1)
        kind = self._kind(schema, path)
        if kind == "object":
            return self._object(schema, path, depth)
        if kind == "array":
            return self._array(schema, path, depth)
        if kind in ("number", "integer"):
            number = number_within(schema, path, integer=kind == "integer")
            budget.spend(path, len(json.dumps(number)))
            return number
        if kind == "boolean":
            budget.spend(path, 4)
            return True
        if kind == "null":
            budget.spend(path, 4)
            return None
        return self._string(schema, path)

    def _resolve(self, ref: Any, path: str) -> Any:
        self.budget.refs += 1
        if self.budget.refs > MAX_REF_EXPANSIONS:
            raise SchemaError(
                "too_large", path, f"the schema expands more than {MAX_REF_EXPANSIONS} $refs"
            )
        if not isinstance(ref, str) or not ref.startswith("#"):
            raise SchemaError(
                "unreadable",
                f"{path}/$ref",
                f"only '#/...' references are supported, got {shown(ref)}",
            )
        node: Any = self.root
        for part in ref.removeprefix("#").removeprefix("/").split("/") if ref != "#" else []:
            part = part.replace("~1", "/").replace("~0", "~")
            if isinstance(node, Mapping) and part in node:
                node = node[part]
            elif isinstance(node, list) and part.isdigit() and int(part) < len(node):
                node = node[int(part)]
            else:
                raise SchemaError("unreadable", f"{path}/$ref", f"'$ref' {ref!r} points nowhere")
        return node

    def _merge_all_of(self, schema: Mapping[str, Any], path: str) -> dict[str, Any]:
        parts = schema["allOf"]
        if not isinstance(parts, list):
            raise SchemaError("unreadable", f"{path}/allOf", "'allOf' must be a list of schemas")
        merged: dict[str, Any] = {}
        for index, part in enumerate(parts):
            where = f"{path}/allOf/{index}"
            if "$ref" in part if isinstance(part, Mapping) else False:
                part = self._resolve(part["$ref"], where)
            if not isinstance(part, Mapping):
                raise SchemaError(
                    "unreadable", where, f"expected a schema (an object), got {shown(part)}"
                )
            for name, value in part.items():
                if name == "properties" and isinstance(merged.get(name), Mapping):
                    if not isinstance(value, Mapping):
                        raise SchemaError(
                            "unreadable", f"{where}/properties", "'properties' must be an object"
                        )
                    merged[name] = {**merged[name], **value}
                elif name == "required" and isinstance(merged.get(name), list):
                    if not isinstance(value, list):
                        raise SchemaError(
                            "unreadable", f"{where}/required", "'required' must be a list"
                        )
                    merged[name] = [*merged[name], *value]
                else:
                    merged[name] = value
        rest = {k: v for k, v in schema.items() if k != "allOf"}
        return {**merged, **rest}

    def _kind(self, schema: Mapping[str, Any], path: str) -> str:
        kind = schema.get("type")
        if isinstance(kind, list):
            names = [k for k in kind if k != "null"] or kind
            if not names:
                raise SchemaError(
                    "unsatisfiable", f"{path}/type", "an empty 'type' list allows nothing"
                )
            kind = names[0]
        if kind is None:
            return "object" if "properties" in schema else "string"
        if not isinstance(kind, str) or kind not in _TYPES:
            raise SchemaError(
                "unreadable",
                f"{path}/type",
                f"unknown 'type' {shown(kind)}: expected one of {', '.join(sorted(_TYPES))}",
            )
        return kind

    def _object(self, schema: Mapping[str, Any], path: str, depth: int) -> dict[str, Any]:
        properties = schema.get("properties") or {}
        if not isinstance(properties, Mapping):
            raise SchemaError("unreadable", f"{path}/properties", "'properties' must be an object")
        required = schema.get("required") or []
        if not isinstance(required, list):
            raise SchemaError("unreadable", f"{path}/required", "'required' must be a list")
        budget = self.budget
        budget.spend(path, 2)
        out: dict[str, Any] = {}
        for name, sub in properties.items():
            where = f"{path}/properties/{name}"
            key_size = len(json.dumps(name)) + 2
            if name in required:
                budget.spend(where, key_size, values=0)
                out[name] = self.value(sub, where, depth + 1)
                continue
            small = (
                budget.bytes < MAX_ARGUMENTS_BYTES // 2 and budget.values < MAX_ARGUMENT_VALUES // 2
            )
            if depth >= _OPTIONAL_DEPTH or not small:
                continue
            saved = budget.snapshot()
            try:
                budget.spend(where, key_size, values=0)
                out[name] = self.value(sub, where, depth + 1)
            except SchemaError as error:
                if error.problem == "unreadable":
                    raise
                budget.restore(saved)  # an optional property that does not fit: left out
        for name in required:
            if name not in out and isinstance(name, str):
                # Required but not declared: any value does.
                budget.spend(f"{path}/required", len(json.dumps(name)) + 11)
                out[name] = "example"
        return out

    def _array(self, schema: Mapping[str, Any], path: str, depth: int) -> list[Any]:
        items = schema.get("items", {})
        low = read_count(path, "minItems", schema.get("minItems", 0))
        high = read_count(path, "maxItems", schema["maxItems"]) if "maxItems" in schema else None
        if high is not None and low > high:
            raise SchemaError(
                "unsatisfiable", f"{path}/minItems", f"minItems {low} is over maxItems {high}"
            )
        count = max(low, 1 if items else 0)
        if high is not None:
            count = min(count, high)
        if count > MAX_ARGUMENT_VALUES:
            raise SchemaError(
                "too_large",
                f"{path}/minItems",
                f"an array of minItems {low} is over the {MAX_ARGUMENT_VALUES} values the mock "
                "generates for arguments",
            )
        self.budget.spend(path, 2)
        out = []
        for index in range(count):
            if isinstance(items, list):  # the older tuple form
                if index >= len(items):
                    break
                item_schema, where = items[index], f"{path}/items/{index}"
            else:
                item_schema, where = items, f"{path}/items"
            self.budget.spend(where, 1, values=0)
            out.append(self.value(item_schema, where, depth + 1))
        return out

    def _string(self, schema: Mapping[str, Any], path: str) -> str:
        value = _FORMATS.get(str(schema.get("format", "")), "example")
        minimum = read_count(path, "minLength", schema.get("minLength", 0))
        maximum = (
            read_count(path, "maxLength", schema["maxLength"]) if "maxLength" in schema else None
        )
        if maximum is not None and minimum > maximum:
            raise SchemaError(
                "unsatisfiable",
                f"{path}/minLength",
                f"minLength {minimum} is over maxLength {maximum}",
            )
        if minimum > MAX_ARGUMENTS_BYTES:
            raise SchemaError(
                "too_large",
                f"{path}/minLength",
                f"a string of minLength {minimum} is over the {MAX_ARGUMENTS_BYTES} bytes of "
                "JSON the mock generates for arguments",
            )
        if len(value) < minimum:
            value = value + "x" * (minimum - len(value))
        if maximum is not None:
            value = value[:maximum]
        self.budget.spend(path, len(value) + 2)
        return value
