"""Validation against the official SDK's models: client events in, and our own events out.

Client events are checked the way the live service checks them: the SDK's pydantic model of the
event (strictly: no coercion of ``"5"`` into ``5``), then the declared fields (the SDK's models
accept unknown keys; the service answers ``unknown_parameter``), then the service's own value
rules that the models do not carry (ranges, the 24 kHz rate). The first problem becomes a
:class:`~mock_server.protocol.errors.RealtimeError` with the API's code and ``param`` as a
dotted path with list indices in brackets: ``session.audio.output.voice``,
``item.content[0].type``.

Server events are checked against the SDK's server-event models for the connection's dialect
(real validation, not ``construct``), which is what strict clients do with every event they
receive; the test suite runs :func:`server_event_problems` on everything the mock sends.
"""

from __future__ import annotations

import math
import types
import typing
from collections.abc import Mapping
from functools import cache
from typing import Any, Literal, Union, get_args, get_origin

from pydantic import BaseModel, TypeAdapter, ValidationError

from mock_server.protocol import errors
from mock_server.protocol.errors import RealtimeError
from mock_server.protocol.events import CLIENT_EVENT_TYPES, Dialect

Path = tuple[str | int, ...]
_SELECTORS = frozenset({"type", "role"})
_APPEND_KEYS = frozenset({"type", "event_id", "audio"})


# ---- the SDK's models, by event type ----------------------------------------------------------


_MEMBERS: dict[int, tuple[Any, list[Any]]] = {}


def _union_members(annotation: Any) -> list[Any]:
    """The members of a (possibly Annotated, possibly Optional) union annotation (cached: the
    SDK's annotations live as long as the process)."""
    cached = _MEMBERS.get(id(annotation))
    if cached is not None and cached[0] is annotation:
        return cached[1]
    members = _members(annotation)
    _MEMBERS[id(annotation)] = (annotation, members)
    return members


def _members(annotation: Any) -> list[Any]:
    origin = get_origin(annotation)
    if origin is typing.Annotated:
        return _members(get_args(annotation)[0])
    if origin is Union or origin is types.UnionType:
        members: list[Any] = []
        for arg in get_args(annotation):
            members.extend(_members(arg))
        return members
    return [annotation]


@cache
def _literal_values(model: type[BaseModel], field: str) -> tuple[Any, ...]:
    info = model.model_fields.get(field)
    if info is None:
        return ()
    values: list[Any] = []
    for member in _union_members(info.annotation):
        if get_origin(member) is Literal:
            values.extend(get_args(member))
    return tuple(values)


def _by_type(union: Any) -> dict[str, type[BaseModel]]:
    table: dict[str, type[BaseModel]] = {}
    for member in _union_members(union):
        if isinstance(member, type) and issubclass(member, BaseModel):
            for value in _literal_values(member, "type"):
                table[str(value)] = member
    return table


@cache
def client_models(dialect: Dialect) -> dict[str, type[BaseModel]]:
    """The SDK's model of each client event type of ``dialect``."""
    if dialect is Dialect.GA:
        from openai.types.realtime import RealtimeClientEvent as ga_union

        return _by_type(ga_union)
    from openai.types.beta.realtime import RealtimeClientEvent as beta_union

    return _by_type(beta_union)


@cache
def server_models(dialect: Dialect) -> dict[str, type[BaseModel]]:
    """The SDK's model of each server event type of ``dialect``."""
    if dialect is Dialect.GA:
        from openai.types.realtime import RealtimeServerEvent as ga_union

        return _by_type(ga_union)
    from openai.types.beta.realtime import RealtimeServerEvent as beta_union

    return _by_type(beta_union)


@cache
def _adapter(model: type[BaseModel]) -> TypeAdapter[Any]:
    return TypeAdapter(model)


def warm_up() -> None:
    """Build every validator now (about a second, once per process) rather than at each event
    type's first use, which would stall the event loop, and so every session, that long. The
    server runs this in a worker thread when it starts (see ``MockServer.start``)."""
    for dialect in Dialect:
        for model in {*client_models(dialect).values(), *server_models(dialect).values()}:
            _adapter(model)


# ---- client events ---------------------------------------------------------------------------


def validate_client_event(event: Mapping[str, Any], dialect: Dialect) -> RealtimeError | None:
    """The error the live service would answer ``event`` with, or None when it is valid.

    The caller has parsed the frame and checked that ``type`` is a string.

    >>> validate_client_event({"type": "session.update", "session": {}}, Dialect.GA).param
    'session.type'
    >>> validate_client_event({"type": "response.cancel"}, Dialect.BETA) is None
    True
    """
    type_ = event["type"]
    if type_ == "input_audio_buffer.append":
        return _check_append(event)
    if type_ == "conversation.item.create" and is_user_text_item(event):
        return None
    return validate_with_models(event, dialect)


def validate_with_models(event: Mapping[str, Any], dialect: Dialect) -> RealtimeError | None:
    """:func:`validate_client_event` without its fast paths: the SDK's model, strictly, then
    unknown parameters, then the service's own rules."""
    type_ = event["type"]
    known = CLIENT_EVENT_TYPES[dialect]
    model = client_models(dialect).get(type_)
    if type_ not in known or model is None:
        supported = ", ".join(f"'{t}'" for t in sorted(known))
        return RealtimeError(
            f"Invalid value: '{type_}'. Supported values are: {supported}.", "invalid_value", "type"
        )
    try:
        _adapter(model).validate_python(dict(event), strict=True)
    except ValidationError as exc:
        return _to_error(exc, event)
    unknown = _first_unknown(event, model, ())
    if unknown is not None:
        return errors.unknown_parameter(_dotted(unknown))
    return _service_rules(event, dialect)


_ITEM_CREATE_KEYS = frozenset({"type", "event_id", "item"})
_USER_TEXT_ITEM_KEYS = {"type", "role", "content"}
_TEXT_PART_KEYS = {"type", "text"}


def is_user_text_item(event: Mapping[str, Any]) -> bool:
    """Whether ``event`` is a ``conversation.item.create`` of a user message made of text parts
    and nothing else (no optional field but a string ``event_id``): after appends, the event
    clients send most. The SDK's models of both dialects accept every such event (the tests
    check it), so the model check is skipped for it; any other shape takes the full path.
    """
    if not _ITEM_CREATE_KEYS.issuperset(event):
        return False
    if "event_id" in event and type(event["event_id"]) is not str:
        return False
    item = event.get("item")
    if type(item) is not dict or item.keys() != _USER_TEXT_ITEM_KEYS:
        return False
    if item["type"] != "message" or item["role"] != "user":
        return False
    content = item["content"]
    if type(content) is not list or not content:
        return False
    for part in content:
        if type(part) is not dict or part.keys() != _TEXT_PART_KEYS:
            return False
        if part["type"] != "input_text" or type(part["text"]) is not str:
            return False
    return True


def _check_append(event: Mapping[str, Any]) -> RealtimeError | None:
    # The hot path: equivalent to the model check, without building a model.
    if "audio" not in event:
        return errors.missing_required_parameter("audio")
    if not isinstance(event["audio"], str):
        return errors.invalid_type("audio", "a base64-encoded string", event["audio"])
    if event.get("event_id") is not None and not isinstance(event["event_id"], str):
        return errors.invalid_type("event_id", "a string", event["event_id"])
    for key in event:
        if key not in _APPEND_KEYS:
            return errors.unknown_parameter(key)
    return None


def _dotted(path: Path) -> str:
    out = ""
    for segment in path:
        if isinstance(segment, int):
            out += f"[{segment}]"
        else:
            out += f".{segment}" if out else segment
    return out


def _data_path(loc: tuple[Any, ...], data: Any) -> tuple[Path, list[int]]:
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


def _to_error(exc: ValidationError, data: Any) -> RealtimeError:
    details = exc.errors(include_url=False)
    eliminated: set[tuple[Any, ...]] = set()
    for detail in details:
        loc = tuple(detail["loc"])
        _, tags = _data_path(loc, data)
        for tag in tags:
            rest = loc[tag + 1 :]
            selector = len(rest) == 1 and rest[0] in _SELECTORS
            if selector and detail["type"] in ("literal_error", "missing", "enum"):
                eliminated.add(loc[: tag + 1])
    kept = [
        d
        for d in details
        if not any(
            tuple(d["loc"])[: t + 1] in eliminated for t in _data_path(tuple(d["loc"]), data)[1]
        )
    ]
    detail = (kept or details)[0]
    path, _ = _data_path(tuple(detail["loc"]), data)
    param = _dotted(path)
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
            allowed = _literal_values(model, selector)
            if selector in value and allowed and value[selector] not in allowed:
                return False
        return True

    candidates = [m for m in members if selects(m)] or list(members)
    return max(candidates, key=lambda m: len(set(value) & set(_field_names(m))))


_SHAPES: dict[int, tuple[Any, tuple[type[BaseModel], ...], Any]] = {}
_NO_LIST = object()


def _shape(annotation: Any) -> tuple[tuple[type[BaseModel], ...], Any]:
    """The models a dict under ``annotation`` may be, and the item annotation of a list under
    it (``_NO_LIST`` when no list is allowed); cached like :func:`_union_members`."""
    cached = _SHAPES.get(id(annotation))
    if cached is not None and cached[0] is annotation:
        return cached[1], cached[2]
    members = _union_members(annotation)
    models = tuple(m for m in members if isinstance(m, type) and issubclass(m, BaseModel))
    inner: Any = _NO_LIST
    for member in members:
        if get_origin(member) in (list, typing.List):  # noqa: UP006 - the SDK uses List
            (inner,) = get_args(member) or (Any,)
            break
    _SHAPES[id(annotation)] = (annotation, models, inner)
    return models, inner


def _first_unknown(value: Any, annotation: Any, path: Path) -> Path | None:
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
                found = _first_unknown(item, fields[key], (*path, key))
                if found is not None:
                    return found
        return None
    if isinstance(value, list):
        _, inner = _shape(annotation)
        if inner is _NO_LIST:
            return None
        for index, item in enumerate(value):
            found = _first_unknown(item, inner, (*path, index))
            if found is not None:
                return found
    return None


# ---- rules of the service the models do not carry ---------------------------------------------


def _range(param: str, value: Any, low: float, high: float) -> RealtimeError | None:
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


def _service_rules(event: Mapping[str, Any], dialect: Dialect) -> RealtimeError | None:
    type_ = event["type"]
    if type_ == "session.update":
        root, config = "session", event.get("session") or {}
    elif type_ == "response.create":
        root, config = "response", event.get("response") or {}
    else:
        return None
    checks: list[tuple[str, Any, float, float]] = []
    for key in ("max_output_tokens", "max_response_output_tokens"):
        if isinstance(config.get(key), int):
            checks.append((f"{root}.{key}", config[key], 1, 4096))
    if dialect is Dialect.BETA:
        checks.append((f"{root}.temperature", config.get("temperature"), 0.6, 1.2))
        checks.append((f"{root}.speed", config.get("speed"), 0.25, 1.5))
        turn = config.get("turn_detection")
        if isinstance(turn, Mapping):
            checks.append((f"{root}.turn_detection.threshold", turn.get("threshold"), 0, 1))
    else:
        audio = config.get("audio") or {}
        out = audio.get("output") or {}
        checks.append((f"{root}.audio.output.speed", out.get("speed"), 0.25, 1.5))
        audio_in = audio.get("input") or {}
        turn = audio_in.get("turn_detection")
        if isinstance(turn, Mapping):
            param = f"{root}.audio.input.turn_detection.threshold"
            checks.append((param, turn.get("threshold"), 0, 1))
        for direction, part in (("input", audio_in), ("output", out)):
            fmt = part.get("format")
            if isinstance(fmt, Mapping) and fmt.get("type") == "audio/pcm":
                rate = fmt.get("rate", 24000)
                if rate != 24000:
                    return errors.invalid_value(
                        f"{root}.audio.{direction}.format.rate", rate, "24000"
                    )
    for param, value, low, high in checks:
        error = _range(param, value, low, high)
        if error is not None:
            return error
    return None


# ---- server events -----------------------------------------------------------------------------


def server_event_problems(event: Mapping[str, Any], dialect: Dialect) -> list[str]:
    """What a strict client would reject in ``event`` (empty when it conforms).

    >>> server_event_problems({"type": "input_audio_buffer.cleared"}, Dialect.GA)
    ["missing required field 'event_id'"]
    """
    type_ = event.get("type")
    model = server_models(dialect).get(str(type_))
    if model is None:
        return [f"'{type_}' is not a server event of the {dialect.value} dialect"]
    try:
        _adapter(model).validate_python(dict(event))
    except ValidationError as exc:
        problems = []
        for detail in exc.errors(include_url=False):
            where = _dotted(_data_path(tuple(detail["loc"]), event)[0]) or "(event)"
            if detail["type"] == "missing":
                problems.append(f"missing required field '{where}'")
            else:
                problems.append(f"{where}: {detail['msg']} (got {detail.get('input')!r})")
        return problems
    return []
