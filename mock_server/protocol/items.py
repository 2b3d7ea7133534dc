"""Conversation items in their neutral (GA) form.

Items are kept in the GA shape with their full content. Server events never carry item audio
except ``conversation.item.retrieved``; :func:`encode` strips it. What a dialect changes (beta's
content types ``text`` / ``audio``) is its encoder's (:mod:`mock_server.protocol.encoding`).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from mock_server.ids import IdFactory


def copy_json(value: Any) -> Any:
    """A deep copy of parsed JSON (dicts, lists and immutable scalars), several times faster
    than :func:`copy.deepcopy`, which must handle any object graph.

    >>> item = {"content": [{"text": "hi"}]}
    >>> copied = copy_json(item)
    >>> copied == item and copied["content"][0] is not item["content"][0]
    True
    """
    # Scalars are returned as they are without a call each (most of an item's values).
    if isinstance(value, dict):
        return {
            key: copy_json(inner) if isinstance(inner, _CONTAINERS) else inner
            for key, inner in value.items()
        }
    if isinstance(value, list):
        return [copy_json(inner) if isinstance(inner, _CONTAINERS) else inner for inner in value]
    return value


_CONTAINERS = (dict, list)


# What every item a client creates says of itself, after its fields (and its id).
CLIENT_ITEM_STATE = {"object": "realtime.item", "status": "completed"}


def from_client(
    item: dict[str, Any], ids: IdFactory, assistant_types: Mapping[str, str] | None = None
) -> dict[str, Any]:
    """The neutral item for a (validated) ``conversation.item.create``'s ``item``;
    ``assistant_types`` renames an assistant message's content types to the neutral ones."""
    new: dict[str, Any] = copy_json(item)
    new.setdefault("id", ids.new("item"))
    new.update(CLIENT_ITEM_STATE)
    if new.get("type") == "message":
        renames = assistant_types if new.get("role") == "assistant" else None
        for part in new.get("content") or []:
            if renames:
                part["type"] = renames.get(part.get("type", ""), part.get("type"))
            if part.get("type") == "input_audio":
                part.setdefault("transcript", None)
    elif new.get("type") == "function_call":
        new.setdefault("call_id", ids.new("call"))
    return new


def encode(item: dict[str, Any], *, with_audio: bool = False) -> dict[str, Any]:
    """``item`` as a server event carries it in the neutral (GA) shape: without its audio
    unless ``with_audio`` (``conversation.item.retrieved``). Its content parts are copies, the
    one level a dialect's encoder changes; deeper values (tool arguments, transcripts) are
    strings, shared safely."""
    out = dict(item)
    if isinstance(out.get("content"), list):
        out["content"] = [dict(part) for part in out["content"]]
    if not with_audio:
        for part in out.get("content") or []:
            if "audio" in part:
                part["audio"] = None
    return out


def text_of(item: dict[str, Any]) -> str:
    """All the text an item carries (typed text and audio transcripts), joined by spaces."""
    pieces: list[str] = []
    for part in item.get("content") or []:
        for key in ("text", "transcript"):
            value = part.get(key)
            if isinstance(value, str) and value:
                pieces.append(value)
    if item.get("type") == "function_call_output":
        pieces.append(str(item.get("output", "")))
    return " ".join(pieces)


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
