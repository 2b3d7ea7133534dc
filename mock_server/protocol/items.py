"""Conversation items: the neutral (GA) form and its encoding for each dialect.

Items are kept in the GA shape with their full content, audio included (as base64, as the client
or the model produced it). Server events never carry item audio except
``conversation.item.retrieved``; :func:`encode` strips it, renames assistant content types for
beta (``output_text`` -> ``text``, ``output_audio`` -> ``audio``) and drops what the dialect's
item model does not know.
"""

from __future__ import annotations

from typing import Any

from mock_server.ids import IdFactory
from mock_server.protocol.events import BETA_CONTENT_TYPES, Dialect

_GA_CONTENT_TYPES = {beta: ga for ga, beta in BETA_CONTENT_TYPES.items()}


def copy_json(value: Any) -> Any:
    """A deep copy of parsed JSON (dicts, lists and immutable scalars), several times faster
    than :func:`copy.deepcopy`, which must handle any object graph.

    >>> item = {"content": [{"text": "hi"}]}
    >>> copied = copy_json(item)
    >>> copied == item and copied["content"][0] is not item["content"][0]
    True
    """
    if isinstance(value, dict):
        return {key: copy_json(inner) for key, inner in value.items()}
    if isinstance(value, list):
        return [copy_json(inner) for inner in value]
    return value


def from_client(item: dict[str, Any], dialect: Dialect, ids: IdFactory) -> dict[str, Any]:
    """The neutral item for a (validated) ``conversation.item.create``'s ``item``."""
    new: dict[str, Any] = copy_json(item)
    new.setdefault("id", ids.new("item"))
    new["object"] = "realtime.item"
    new["status"] = "completed"
    if new.get("type") == "message":
        for part in new.get("content") or []:
            if dialect is Dialect.BETA and new.get("role") == "assistant":
                part["type"] = _GA_CONTENT_TYPES.get(part.get("type", ""), part.get("type"))
            if part.get("type") == "input_audio":
                part.setdefault("transcript", None)
    elif new.get("type") == "function_call":
        new.setdefault("call_id", ids.new("call"))
    return new


def encode(item: dict[str, Any], dialect: Dialect, *, with_audio: bool = False) -> dict[str, Any]:
    """``item`` as a server event of ``dialect`` carries it."""
    # A shallow copy down to the content parts: the only level this function changes. Deeper
    # values (tool arguments, transcripts) are strings, shared safely.
    out = dict(item)
    if isinstance(out.get("content"), list):
        out["content"] = [dict(part) for part in out["content"]]
    for part in out.get("content") or []:
        if not with_audio and "audio" in part:
            part["audio"] = None
        if dialect is Dialect.BETA:
            part["type"] = BETA_CONTENT_TYPES.get(part.get("type", ""), part.get("type"))
            part.pop("detail", None)
            part.pop("image_url", None)
    if dialect is Dialect.BETA and out.get("type") == "message" and out.get("role") == "system":
        out["role"] = "system"
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
