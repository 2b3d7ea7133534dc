"""The canned model's tool arguments satisfy the tool's JSON Schema."""

from __future__ import annotations

from typing import Any

import jsonschema
import pytest
from hypothesis import given
from hypothesis import strategies as st

from mock_server.protocol.schema_values import example_for_schema

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
    jsonschema.validate(example_for_schema(schema), schema)


def test_examples_are_deterministic() -> None:
    assert [example_for_schema(s) for s in SCHEMAS] == [example_for_schema(s) for s in SCHEMAS]
