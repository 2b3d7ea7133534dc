"""A pydantic ``ValidationError`` turned into the error the live service answers with.

The first problem pydantic reports becomes a
:class:`~mock_server.protocol.errors.RealtimeError` with the API's code (``invalid_type``,
``missing_required_parameter``, ``invalid_value``, ...) and its ``param`` as a dotted path with
list indices in brackets (``item.content[0].type``), read through the union members the event's
``type`` and ``role`` select. The SDK's models accept unknown keys; the service does not:
:func:`first_unknown` finds the first field no model declares.
"""

from __future__ import annotations

import math
import typing
from collections.abc import Mapping
from functools import cache
from typing import Any, get_args, get_origin

from pydantic import BaseModel, ValidationError

from mock_server.protocol import errors
from mock_server.protocol.errors import RealtimeError
from mock_server.protocol.sdk_models import literal_values, union_members

Path = tuple[str | int, ...]
_SELECTORS = frozenset({"type", "role"})


def dotted(path: Path) -> str:
    out = ""
    for segment in path:
        if isinstance(segment, int):
            out += f"[{segment}]"
        else:
            out += f".{segment}" if out else segment
    return out


def data_path(loc: tuple[Any, ...], data: Any) -> tuple[Path, list[int]]:
    """Split pydantic's ``loc`` into the path through ``data`` and the union-tag positions."""
    path: list[str | int] = []
    tags: list[int] = []
    node = data
    for position, segment in enumerate(loc):
        in_dict = isinstance(node, Mapping) and isinstance(segment, str) and segment in node
        in_list = isinstance(node, list) and isinstance(segment, int) and segment < len(node)
        if in_dict or in_list:
            path.append(segment)
            node = node[segment]
        elif position == len(loc) - 1 and isinstance(segment, str) and not _is_tag(segment):
            path.append(segment)  # a missing field: the last segment names it
        else:
            tags.append(position)
    return tuple(path), tags


def _is_tag(segment: str) -> bool:
    """Whether a loc segment names a union member rather than a field."""
    return segment[:1].isupper() or "[" in segment or segment in ("int", "str", "float", "bool")


def to_error(exc: ValidationError, data: Any) -> RealtimeError:
    details = exc.errors(include_url=False)
    eliminated: set[tuple[Any, ...]] = set()
    for detail in details:
        loc = tuple(detail["loc"])
        _, tags = data_path(loc, data)
        for tag in tags:
            rest = loc[tag + 1 :]
            selector = len(rest) == 1 and rest[0] in _SELECTORS
            if selector and detail["type"] in ("literal_error", "missing", "enum"):
                eliminated.add(loc[: tag + 1])
    kept = [
        d
        for d in details
        if not any(
            tuple(d["loc"])[: t + 1] in eliminated for t in data_path(tuple(d["loc"]), data)[1]
        )
    ]
    detail = (kept or details)[0]
    path, _ = data_path(tuple(detail["loc"]), data)
    param = dotted(path)
    kind = detail["type"]
    value = detail.get("input")
    ctx = detail.get("ctx") or {}
    if kind == "missing":
        return errors.missing_required_parameter(param)
    if kind in ("literal_error", "enum"):
        return errors.invalid_value(param, value, str(ctx.get("expected", "")) or None)
    if kind in ("greater_than", "greater_than_equal"):
        code = "integer_below_min_value" if isinstance(value, int) else "decimal_below_min_value"
        return RealtimeError(f"Invalid '{param}': {detail['msg']}.", code, param)
    if kind in ("less_than", "less_than_equal"):
        code = "integer_above_max_value" if isinstance(value, int) else "decimal_above_max_value"
        return RealtimeError(f"Invalid '{param}': {detail['msg']}.", code, param)
    if kind == "string_too_long":
        return RealtimeError(
            f"Invalid '{param}': {detail['msg']}.", "string_above_max_length", param
        )
    if kind.endswith("_type") or kind.endswith("_parsing") or kind == "model_attributes_type":
        expected = detail["msg"].removeprefix("Input should be ").removeprefix("a valid ")
        return errors.invalid_type(param, expected, value)
    return RealtimeError(f"Invalid '{param}': {detail['msg']}.", "invalid_value", param)


# ---- unknown parameters ------------------------------------------------------------------------


@cache
def _field_names(model: type[BaseModel]) -> dict[str, Any]:
    names: dict[str, Any] = {}
    for name, info in model.model_fields.items():
        names[info.alias or name] = info.annotation
    return names


def _pick_member(members: tuple[type[BaseModel], ...], value: Mapping[str, Any]) -> type[BaseModel]:
    """The union member a dict selects: by its ``type``/``role`` literals, then by its keys."""
    if len(members) == 1:
        return members[0]
    key = (members, frozenset(value), tuple(value.get(selector) for selector in _SELECTORS))
    try:
        chosen = _CHOSEN.get(key)
    except TypeError:  # an unhashable selector value: choose without the cache
        return _choose_member(members, value)
    if chosen is None:
        chosen = _choose_member(members, value)
        if len(_CHOSEN) < _CHOSEN_MAX:
            _CHOSEN[key] = chosen
    return chosen


# The choice depends only on the members, the dict's keys and its selector values; clients
# send the same shapes again and again. But the keys are the client's to choose (an unknown
# parameter is a new shape), so the cache stops growing at _CHOSEN_MAX shapes: a long-running
# server's memory does not grow with what its clients invent.
_CHOSEN: dict[Any, type[BaseModel]] = {}
_CHOSEN_MAX = 4096


def _choose_member(
    members: tuple[type[BaseModel], ...], value: Mapping[str, Any]
) -> type[BaseModel]:
    def selects(model: type[BaseModel]) -> bool:
        for selector in _SELECTORS:
            allowed = literal_values(model, selector)
            if selector in value and allowed and value[selector] not in allowed:
                return False
        return True

    candidates = [m for m in members if selects(m)] or list(members)
    return max(candidates, key=lambda m: len(set(value) & set(_field_names(m))))


_SHAPES: dict[int, tuple[Any, tuple[type[BaseModel], ...], Any]] = {}
_NO_LIST = object()


def _shape(annotation: Any) -> tuple[tuple[type[BaseModel], ...], Any]:
    """The models a dict under ``annotation`` may be, and the item annotation of a list under
    it (``_NO_LIST`` when no list is allowed); cached like
    :func:`~mock_server.protocol.sdk_models.union_members`."""
    cached = _SHAPES.get(id(annotation))
    if cached is not None and cached[0] is annotation:
        return cached[1], cached[2]
    members = union_members(annotation)
    models = tuple(m for m in members if isinstance(m, type) and issubclass(m, BaseModel))
    inner: Any = _NO_LIST
    for member in members:
        if get_origin(member) in (list, typing.List):  # noqa: UP006 - the SDK uses List
            (inner,) = get_args(member) or (Any,)
            break
    _SHAPES[id(annotation)] = (annotation, models, inner)
    return models, inner


def first_unknown(value: Any, annotation: Any, path: Path) -> Path | None:
    """The path of the first key that the model (or its nested models) does not declare."""
    if isinstance(value, Mapping):
        models, _ = _shape(annotation)
        if not models:
            return None  # a free-form dict (JSON Schema, metadata)
        fields = _field_names(_pick_member(models, value))
        for key, item in value.items():
            if key not in fields:
                return (*path, key)
            if isinstance(item, Mapping | list):  # scalars have no keys to check
                found = first_unknown(item, fields[key], (*path, key))
                if found is not None:
                    return found
        return None
    if isinstance(value, list):
        _, inner = _shape(annotation)
        if inner is _NO_LIST:
            return None
        for index, item in enumerate(value):
            found = first_unknown(item, inner, (*path, index))
            if found is not None:
                return found
    return None


# ---- rules of the service the models do not carry ---------------------------------------------


def out_of_range(param: str, value: Any, low: float, high: float) -> RealtimeError | None:
    if not isinstance(value, int | float) or isinstance(value, bool):
        return None
    integer = isinstance(value, int)
    if isinstance(value, float) and not math.isfinite(value):
        # Strict parsing refuses NaN and Infinity in frames; an event built in code may hold
        # one, and every comparison with NaN is false.
        return RealtimeError(
            f"Invalid '{param}': expected a finite number, but got {value!r} instead.",
            "invalid_value",
            param,
        )
    if value < low:
        code = "integer_below_min_value" if integer else "decimal_below_min_value"
        return RealtimeError(
            f"Invalid '{param}': expected a value >= {low:g}, but got {_number(value)} instead.",
            code,
            param,
        )
    if value > high:
        code = "integer_above_max_value" if integer else "decimal_above_max_value"
        return RealtimeError(
            f"Invalid '{param}': expected a value <= {high:g}, but got {_number(value)} instead.",
            code,
            param,
        )
    return None


def _number(value: float) -> str:
    """``value`` as an error message shows it: ``%g`` for floats and ordinary integers, and
    for an integer too large for a float (a JSON integer may have thousands of digits) its
    first digits and its length, so the message neither overflows nor echoes the whole."""
    if isinstance(value, int) and abs(value) >= 10**15:
        digits = str(abs(value))
        sign = "-" if value < 0 else ""
        return f"{sign}{digits[:6]}... ({len(digits)} digits)"
    return f"{value:g}"
