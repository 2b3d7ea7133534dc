"""The official SDK's Realtime event models, per dialect and event type, and their validators.

The SDK types every client and server event of each dialect as a pydantic model in a union;
:func:`client_models` and :func:`server_models` index those unions by the events' ``type``.
Building a model's validator takes a while the first time, so :func:`warm_up` builds them all
at once (the server does, in a worker thread, as it starts listening).
"""

from __future__ import annotations

import types
import typing
from functools import cache
from typing import Any, Literal, Union, get_args, get_origin

from pydantic import BaseModel, TypeAdapter

from mock_server.protocol.events import Dialect

_MEMBERS: dict[int, tuple[Any, list[Any]]] = {}


def union_members(annotation: Any) -> list[Any]:
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
def literal_values(model: type[BaseModel], field: str) -> tuple[Any, ...]:
    info = model.model_fields.get(field)
    if info is None:
        return ()
    values: list[Any] = []
    for member in union_members(info.annotation):
        if get_origin(member) is Literal:
            values.extend(get_args(member))
    return tuple(values)


def _by_type(union: Any) -> dict[str, type[BaseModel]]:
    table: dict[str, type[BaseModel]] = {}
    for member in union_members(union):
        if isinstance(member, type) and issubclass(member, BaseModel):
            for value in literal_values(member, "type"):
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
def adapter(model: type[BaseModel]) -> TypeAdapter[Any]:
    return TypeAdapter(model)


def warm_up() -> None:
    """Build every validator now (about a second, once per process) rather than at each event
    type's first use, which would stall the event loop, and so every session, that long. The
    server runs this in a worker thread when it starts (see ``server/warm.py``)."""
    for dialect in Dialect:
        for model in {*client_models(dialect).values(), *server_models(dialect).values()}:
            adapter(model)
