"""The canned model's tool arguments satisfy the tool's JSON Schema."""

from __future__ import annotations

import json
from typing import Any

import jsonschema
import pytest
from hypothesis import given
from hypothesis import strategies as st

from mock_server.protocol.schema_values import (
    MAX_ARGUMENT_VALUES,
    MAX_ARGUMENTS_BYTES,
    MAX_DEPTH,
    SchemaError,
    example_for_schema,
)

SCHEMAS: list[dict[str, Any]] = [
    {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]},
    {"type": "object", "properties": {"n": {"type": "integer", "minimum": 5, "maximum": 9}}},
    {"type": "object", "properties": {"x": {"type": "number", "exclusiveMinimum": 2.5}}},
    {"type": "integer", "multipleOf": 7, "minimum": 10},
    {"type": "string", "minLength": 12, "maxLength": 14},
    {"type": "string", "format": "date-time"},
    {"type": "array", "items": {"type": "boolean"}, "minItems": 3},
    {"enum": ["red", "green"]},
    {"const": 42},
    {"anyOf": [{"type": "null"}, {"type": "string"}]},
    {"type": ["null", "integer"], "minimum": 3},
    {
        "allOf": [
            {"type": "object", "properties": {"a": {"type": "string"}}, "required": ["a"]},
            {"properties": {"b": {"type": "integer"}}, "required": ["b"]},
        ]
    },
    {
        "type": "object",
        "properties": {"where": {"$ref": "#/$defs/place"}},
        "required": ["where"],
        "$defs": {
            "place": {
                "type": "object",
                "properties": {"lat": {"type": "number"}},
                "required": ["lat"],
            }
        },
    },
    {"type": "object", "properties": {"unit": {"type": "string", "default": "celsius"}}},
]


@pytest.mark.parametrize("schema", SCHEMAS)
def test_example_validates(schema: dict[str, Any]) -> None:
    jsonschema.validate(example_for_schema(schema), schema)


def leaf() -> st.SearchStrategy[dict[str, Any]]:
    return st.one_of(
        st.builds(
            lambda lo, span: {"type": "integer", "minimum": lo, "maximum": lo + span},
            st.integers(-100, 100),
            st.integers(0, 50),
        ),
        st.builds(lambda lo: {"type": "number", "minimum": lo}, st.floats(-1e3, 1e3)),
        st.builds(lambda n: {"type": "string", "minLength": n}, st.integers(0, 20)),
        st.builds(lambda values: {"enum": values}, st.lists(st.text(max_size=4), min_size=1)),
        st.just({"type": "boolean"}),
        st.just({"type": "null"}),
    )


schemas = st.recursive(
    leaf(),
    lambda inner: st.one_of(
        st.builds(
            lambda items, n: {"type": "array", "items": items, "minItems": n},
            inner,
            st.integers(0, 3),
        ),
        st.builds(
            lambda props: {"type": "object", "properties": props, "required": sorted(props)},
            st.dictionaries(st.text("abcxyz", min_size=1, max_size=5), inner, max_size=4),
        ),
    ),
    max_leaves=12,
)


@given(schemas)
def test_random_schemas_get_valid_examples(schema: dict[str, Any]) -> None:
    try:
        example = example_for_schema(schema)
    except SchemaError as error:  # nested minItems can multiply past the bounds
        assert error.problem == "too_large"
        return
    jsonschema.validate(example, schema)


def test_examples_are_deterministic() -> None:
    assert [example_for_schema(s) for s in SCHEMAS] == [example_for_schema(s) for s in SCHEMAS]


# ---- bounds and bad schemas (issue 13) -------------------------------------------------------


def _values_in(value: Any) -> int:
    if isinstance(value, dict):
        return 1 + sum(_values_in(v) for v in value.values())
    if isinstance(value, list):
        return 1 + sum(_values_in(v) for v in value)
    return 1


def _depth_of(value: Any) -> int:
    if isinstance(value, dict | list):
        children = value.values() if isinstance(value, dict) else value
        return 1 + max((_depth_of(c) for c in children), default=0)
    return 0


CYCLE_WITH_FAN_OUT = {
    "$ref": "#/$defs/node",
    "$defs": {
        "node": {
            "type": "object",
            "properties": {f"child{i}": {"$ref": "#/$defs/node"} for i in range(8)},
        }
    },
}


@pytest.mark.parametrize(
    ("schema", "problem", "path"),
    [
        ({"type": "string", "minLength": 2_000_000}, "too_large", "/minLength"),
        (
            {
                "type": "object",
                "properties": {"xs": {"type": "array", "minItems": 1_000_000}},
                "required": ["xs"],
            },
            "too_large",
            "/properties/xs/minItems",
        ),
        (
            {"type": "array", "items": {"type": "string", "minLength": 100}, "minItems": 900},
            "too_large",
            "/items",
        ),
        (
            {
                "$ref": "#/$defs/n",
                "$defs": {
                    "n": {
                        "type": "object",
                        "properties": {"next": {"$ref": "#/$defs/n"}},
                        "required": ["next"],
                    }
                },
            },
            "too_large",
            "",
        ),
        ({"type": "array", "minItems": "x"}, "unreadable", "/minItems"),
        ({"allOf": [[1]]}, "unreadable", "/allOf/0"),
        ({"type": "frobnicate"}, "unreadable", "/type"),
        ({"$ref": "#/nowhere"}, "unreadable", "/$ref"),
        ({"anyOf": []}, "unreadable", "/anyOf"),
        ({"type": "object", "properties": [1, 2]}, "unreadable", "/properties"),
        ({"type": "integer", "minimum": 5, "maximum": 4}, "unsatisfiable", ""),
        ({"type": "string", "minLength": 5, "maxLength": 4}, "unsatisfiable", "/minLength"),
        ({"type": "array", "minItems": 3, "maxItems": 2}, "unsatisfiable", "/minItems"),
        ({"enum": []}, "unsatisfiable", "/enum"),
        ({"type": "number", "multipleOf": 0}, "unreadable", "/multipleOf"),
        (False, "unsatisfiable", ""),
    ],
)
def test_schemas_past_the_bounds_or_unreadable_are_schema_errors_saying_where(
    schema: Any, problem: str, path: str
) -> None:
    with pytest.raises(SchemaError) as caught:
        example_for_schema(schema)
    assert caught.value.problem == problem
    assert caught.value.path.startswith(path)
    assert caught.value.path in caught.value.message or not path


def test_a_ref_cycle_through_optional_properties_ends_small() -> None:
    example = example_for_schema(CYCLE_WITH_FAN_OUT)
    assert len(json.dumps(example)) <= MAX_ARGUMENTS_BYTES
    assert _depth_of(example) <= MAX_DEPTH


# Schema-shaped dicts, nonsense included: the keywords the synthesis reads, with values of
# the right kind or any JSON at all.
_json_scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-(10**6), 10**7),
    st.floats(allow_nan=False, allow_infinity=False),
    st.text(max_size=8),
)
_any_json = st.recursive(
    _json_scalars,
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=4), inner, max_size=3)
    ),
    max_leaves=6,
)
_KEYWORDS = [
    "type",
    "properties",
    "required",
    "items",
    "minItems",
    "maxItems",
    "minimum",
    "maximum",
    "exclusiveMinimum",
    "exclusiveMaximum",
    "multipleOf",
    "minLength",
    "maxLength",
    "format",
    "enum",
    "const",
    "default",
    "examples",
    "anyOf",
    "oneOf",
    "allOf",
    "$ref",
    "$defs",
]


def _keyword_value(inner: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    return st.one_of(
        _any_json,
        inner,
        st.lists(inner, max_size=3),
        st.dictionaries(st.sampled_from(["a", "b", "node"]), inner, max_size=3),
        st.sampled_from(sorted(["object", "array", "string", "number", "integer", "null"])),
        st.integers(0, 10**7),
        st.sampled_from(["#", "#/$defs/node", "#/$defs/a", "#/properties/a", "#/x/y"]),
    )


random_schemas = st.recursive(
    st.one_of(st.booleans(), _any_json, st.just({})),
    lambda inner: st.dictionaries(st.sampled_from(_KEYWORDS), _keyword_value(inner), max_size=6),
    max_leaves=20,
)


@given(random_schemas)
def test_any_schema_gives_arguments_within_the_bounds_or_a_schema_error(schema: Any) -> None:
    try:
        example = example_for_schema(schema)
    except SchemaError as error:
        assert error.problem in ("unreadable", "unsatisfiable", "too_large")
        assert error.message
        return
    text = json.dumps(example, allow_nan=False)
    assert len(text) <= MAX_ARGUMENTS_BYTES
    assert _values_in(example) <= MAX_ARGUMENT_VALUES
    assert _depth_of(example) <= MAX_DEPTH + 1
