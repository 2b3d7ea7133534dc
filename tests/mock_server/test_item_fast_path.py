"""The short way of ``conversation.item.create`` changes nothing a client or a verdict sees.

A user message of text parts (``items.is_user_text_item``) skips the SDK model check and the
general ``create`` (issue 15). Sessions given the same events, one with the short way and one
without, must send the same frames byte for byte, record the same transcript and hold the same
conversation, in both dialects: for items of any text and key order, with or without an
``event_id``, mixed with the events that take the general way, up to and past the conversation's
bounds, and for a client item id the short way would draw next.
"""

from __future__ import annotations

import json
from typing import Any
from unittest import mock

from hypothesis import given
from hypothesis import strategies as st

from mock_server.protocol.events import Dialect
from mock_server.session import ServerEvent, Session, SessionOptions
from mock_server.session import conversation as conversation_module
from mock_server.session import session as session_module

_TEXT = st.text(alphabet=st.characters(codec="utf-8"), max_size=12)


@st.composite
def _user_text(draw: st.DrawFn) -> dict[str, Any]:
    parts = draw(st.lists(_TEXT.map(lambda t: {"type": "input_text", "text": t}), max_size=3))
    if draw(st.booleans()):
        parts = [dict(reversed(part.items())) for part in parts]
    fields = [("type", "message"), ("role", "user"), ("content", parts)]
    item = dict(draw(st.permutations(fields)))
    event: dict[str, Any] = {"type": "conversation.item.create", "item": item}
    if draw(st.booleans()):
        event["event_id"] = draw(st.text(max_size=5))
    return event


# Events that take the general way: an item with its own id (perhaps the next one drawn), an
# assistant's text, an item placed after another, a bad part, and a response.
_OTHERS = st.sampled_from(
    [
        {
            "type": "conversation.item.create",
            "item": {**json.loads('{"type":"message","role":"user"}'), "id": "item_fixed"},
        },
        {
            "type": "conversation.item.create",
            "item": {
                "type": "message",
                "role": "assistant",
                "content": [{"type": "output_text", "text": "ok"}],
            },
        },
        {
            "type": "conversation.item.create",
            "previous_item_id": "root",
            "item": {"type": "message", "role": "user", "content": [{"type": "input_text"}]},
        },
        {"type": "conversation.item.create", "item": {"type": "message", "role": "user"}},
        {"type": "response.create", "response": {"output_modalities": ["text"]}},
    ]
)


def _play(events: list[dict[str, Any]], dialect: Dialect, *, fast: bool) -> dict[str, Any]:
    session = Session(SessionOptions(dialect=dialect, seed=7, pace=0))
    session.open(0.0)
    frames = [o.text for o in session.due(0.0) if isinstance(o, ServerEvent)]
    for n, event in enumerate(events, start=1):
        if dialect is Dialect.BETA and "response" in event:
            event = {**event, "response": {"modalities": ["text"]}}
        frame = json.dumps(event)
        if fast:
            session.receive(frame, float(n))
        else:
            with mock.patch.object(session_module, "is_user_text_item", lambda _: False):
                session.receive(frame, float(n))
        frames += [o.text for o in session.due(float(n)) if isinstance(o, ServerEvent)]
    return {
        "frames": frames,
        "transcript": [(e.t, e.direction, e.type, e.event) for e in session.transcript.entries],
        "items": session.items,
        "usage": session.conversation.usage_totals(),
        "findings": [f.code for f in session.findings],
    }


@given(
    st.lists(st.one_of(_user_text(), _user_text(), _OTHERS), min_size=1, max_size=8),
    st.sampled_from([Dialect.GA, Dialect.BETA]),
)
def test_the_short_way_sends_and_records_what_the_general_way_does(
    events: list[dict[str, Any]], dialect: Dialect
) -> None:
    assert _play(events, dialect, fast=True) == _play(events, dialect, fast=False)


def test_a_user_text_item_past_the_conversations_bounds_is_refused_the_same_way() -> None:
    events = [_text_event("x" * 30) for _ in range(4)]
    with mock.patch.object(conversation_module, "MAX_CONVERSATION_TEXT", 70):
        fast = _play(events, Dialect.GA, fast=True)
        general = _play(events, Dialect.GA, fast=False)
    assert fast == general
    errors = [json.loads(f) for f in fast["frames"] if '"type":"error"' in f]
    assert [e["error"]["code"] for e in errors] == ["conversation_too_large"] * 2


def test_an_id_the_client_took_first_is_refused_the_same_way() -> None:
    for dialect in (Dialect.GA, Dialect.BETA):
        # The id the short way draws for the second item, once a first one (of any id) is in:
        # given to that first item, the short way's id is taken.
        probe = _play([_with_id("item_probe"), _text_event("b")], dialect, fast=True)
        taken = probe["items"][1]["id"]
        events = [_with_id(taken), _text_event("b")]
        fast = _play(events, dialect, fast=True)
        assert fast == _play(events, dialect, fast=False)
        error = json.loads(fast["frames"][-1])["error"]
        assert (error["code"], error["param"]) == ("invalid_value", "item.id")


def _with_id(item_id: str) -> dict[str, Any]:
    event = _text_event("a")
    event["item"]["id"] = item_id
    return event


def _text_event(text: str) -> dict[str, Any]:
    item = {"type": "message", "role": "user", "content": [{"type": "input_text", "text": text}]}
    return {"type": "conversation.item.create", "item": item}
