"""The checks of a JSON Schema's keywords that :mod:`.schema_values` relies on: the error that
says what and where (:class:`SchemaError`), counts and numbers read strictly, and a number that
meets a schema's bounds (``minimum``, ``maximum``, their exclusive forms, ``multipleOf``).
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from typing import Any, Literal

Problem = Literal["unreadable", "unsatisfiable", "too_large"]


class SchemaError(ValueError):
    """A schema the mock cannot make arguments for: ``problem`` says why, ``path`` where (a
    JSON Pointer into the schema, ``""`` for its root)."""

    def __init__(self, problem: Problem, path: str, message: str) -> None:
        where = f"at '{path}'" if path else "at the schema's root"
        super().__init__(f"{message} ({where})")
        self.problem = problem
        self.path = path
        self.message = f"{message} ({where})"


def json_size(value: Any, path: str) -> int:
    try:
        return len(json.dumps(value, allow_nan=False, separators=(",", ":")))
    except (TypeError, ValueError, RecursionError) as exc:
        raise SchemaError("unreadable", path, f"the value is not strict JSON ({exc})") from exc


def read_count(path: str, key: str, value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int | float) or value < 0:
        raise SchemaError(
            "unreadable", f"{path}/{key}", f"'{key}' must be a non-negative integer, got {value!r}"
        )
    if isinstance(value, float):
        if not value.is_integer():
            raise SchemaError(
                "unreadable", f"{path}/{key}", f"'{key}' must be an integer, got {value!r}"
            )
        # A float past the bounds stays a float (inf-free: strict JSON); it is only compared.
        return int(value) if value < 2**62 else 2**62
    return value


def read_finite(path: str, key: str, value: Any) -> float | int:
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise SchemaError("unreadable", f"{path}/{key}", f"'{key}' must be a number, got {value!r}")
    return value


def number_within(schema: Mapping[str, Any], path: str, *, integer: bool) -> int | float:
    low = read_finite(path, "minimum", schema["minimum"]) if "minimum" in schema else None
    high = read_finite(path, "maximum", schema["maximum"]) if "maximum" in schema else None
    if "exclusiveMinimum" in schema and not isinstance(schema["exclusiveMinimum"], bool):
        bound = read_finite(path, "exclusiveMinimum", schema["exclusiveMinimum"])
        low = bound + (1 if integer else max(1e-6, abs(bound) * 1e-9))
    if "exclusiveMaximum" in schema and not isinstance(schema["exclusiveMaximum"], bool):
        bound = read_finite(path, "exclusiveMaximum", schema["exclusiveMaximum"])
        high = bound - (1 if integer else max(1e-6, abs(bound) * 1e-9))
    value: float = 1.0
    if low is not None and value < low:
        value = float(low)
    if high is not None and value > high:
        value = float(high)
    step = schema.get("multipleOf")
    if step is not None:
        step = read_finite(path, "multipleOf", step)
        if step <= 0:
            raise SchemaError(
                "unreadable", f"{path}/multipleOf", f"'multipleOf' must be > 0, got {step!r}"
            )
        quotient = value / step
        if not math.isfinite(quotient):
            raise SchemaError(
                "unsatisfiable", f"{path}/multipleOf", f"multipleOf {step!r} is too small"
            )
        value = math.ceil(quotient) * step
        if high is not None and value > high:
            value -= step
    if integer:
        rounded = math.ceil(value) if low is not None else math.floor(value)
        if not math.isfinite(rounded):
            raise SchemaError("unsatisfiable", path, "no integer fits these bounds")
        value = int(rounded)
    if (
        not math.isfinite(value)
        or (low is not None and value < low)
        or (high is not None and value > high)
    ):
        raise SchemaError(
            "unsatisfiable",
            path,
            f"no {'integer' if integer else 'number'} fits minimum {low!r}, maximum {high!r}"
            + (f", multipleOf {step!r}" if step is not None else ""),
        )
    return value


def shown(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."
