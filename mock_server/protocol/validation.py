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

from collections.abc import Mapping
from typing import Any

from pydantic import ValidationError

from mock_server.protocol import errors
from mock_server.protocol.errors import RealtimeError
from mock_server.protocol.events import CLIENT_EVENT_TYPES, Dialect
from mock_server.protocol.items import is_user_text_item
from mock_server.protocol.limits import IDLE_TIMEOUT_MS_RANGE
from mock_server.protocol.model_errors import (
    data_path,
    dotted,
    first_unknown,
    out_of_range,
    to_error,
)
from mock_server.protocol.sdk_models import adapter, client_models, server_models, warm_up

# The names importers of this module use (the validators are built by sdk_models).
__all__ = [
    "adapter",
    "client_models",
    "is_user_text_item",
    "server_event_problems",
    "server_models",
    "validate_client_event",
    "validate_with_models",
    "warm_up",
]
_APPEND_KEYS = frozenset({"type", "event_id", "audio"})


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
        adapter(model).validate_python(dict(event), strict=True)
    except ValidationError as exc:
        return to_error(exc, event)
    unknown = first_unknown(event, model, ())
    if unknown is not None:
        return errors.unknown_parameter(dotted(unknown))
    return _service_rules(event, dialect)


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
            idle = _idle_timeout_error(f"{root}.audio.input.turn_detection", turn)
            if idle is not None:
                return idle
        for direction, part in (("input", audio_in), ("output", out)):
            fmt = part.get("format")
            if isinstance(fmt, Mapping) and fmt.get("type") == "audio/pcm":
                rate = fmt.get("rate", 24000)
                if rate != 24000:
                    return errors.invalid_value(
                        f"{root}.audio.{direction}.format.rate", rate, "24000"
                    )
    for param, value, low, high in checks:
        error = out_of_range(param, value, low, high)
        if error is not None:
            return error
    return None


def _idle_timeout_error(where: str, turn: Mapping[str, Any]) -> RealtimeError | None:
    """``idle_timeout_ms`` outside the service's range is ``invalid_value`` (not the
    ``integer_*_value`` codes of the other ranges): see docs/protocol-notes.md."""
    value = turn.get("idle_timeout_ms")
    if not isinstance(value, int) or isinstance(value, bool):
        return None
    low, high = IDLE_TIMEOUT_MS_RANGE
    if low <= value <= high:
        return None
    return RealtimeError(
        f"Invalid '{where}.idle_timeout_ms': expected a value between {low} and {high} "
        f"(milliseconds), but got {value} instead.",
        "invalid_value",
        f"{where}.idle_timeout_ms",
    )


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
        adapter(model).validate_python(dict(event))
    except ValidationError as exc:
        problems = []
        for detail in exc.errors(include_url=False):
            where = dotted(data_path(tuple(detail["loc"]), event)[0]) or "(event)"
            if detail["type"] == "missing":
                problems.append(f"missing required field '{where}'")
            else:
                problems.append(f"{where}: {detail['msg']} (got {detail.get('input')!r})")
        return problems
    return []
