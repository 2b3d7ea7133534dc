"""A response's usage, read from the conversation's running totals, equals a recount from scratch.

The conversation keeps its text and its user audio as running totals (see
:mod:`mock_server.session.conversation`), so that usage costs the same late in a long session.
These tests drive random conversations (items created anywhere, deleted, truncated; replies in
text and audio, streamed over the clock or at once; out-of-band replies with their own input;
committed audio with transcription; audio let go past the conversation's cap) and check every
read of the totals, and ``response.done``'s input usage, against a recount through public
data: the conversation's items and their audio.
"""

from __future__ import annotations

import base64
import contextlib
import math
from collections.abc import Iterator
from typing import Any
from unittest import mock

from hypothesis import given
from hypothesis import strategies as st

from mock_server.protocol.items import text_of
from mock_server.session import conversation
from tests.helpers import SessionDriver

_AUDIO_100MS = bytes(range(256)) * 18 + bytes(192)  # 4800 bytes: 100 ms of 24 kHz PCM16


def recounted_input_usage(driver: SessionDriver) -> tuple[int, int]:
    """(text tokens, audio tokens) of a usage, counted over every item as it always was."""
    items = driver.session.items
    context = " ".join(text_of(item) for item in items)
    text_tokens = (max(1, math.ceil(len(context) / 4)) if context else 0) + 120
    audio_tokens = sum(
        math.ceil(len(driver.session.item_audio(item["id"])) / 4800)
        for item in items
        if item.get("role") == "user"
    )
    return text_tokens, audio_tokens


@contextlib.contextmanager
def recounting() -> Iterator[list[tuple[int, int]]]:
    """Every read of the running totals is checked, as it is made, against a recount of the
    conversation's items and audio (a reply cut off by a delete reads them before the item
    goes); yields the totals read."""
    reads: list[tuple[int, int]] = []
    running = conversation.Conversation.usage_totals

    def checked_read(self: conversation.Conversation) -> tuple[int, int]:
        totals = running(self)
        text = " ".join(text_of(item) for item in self.items)
        audio = sum(
            math.ceil(len(self.audio.get(item["id"], b"")) / 4800)
            for item in self.items
            if item.get("role") == "user"
        )
        assert totals == (len(text), audio)
        reads.append(totals)
        return totals

    with mock.patch.object(conversation.Conversation, "usage_totals", checked_read):
        yield reads


def checked(driver: SessionDriver, events: list[dict[str, Any]]) -> int:
    """Check every response.done in ``events`` against a recount; how many there were."""
    done = [e for e in events if e["type"] == "response.done"]
    for event in done:
        details = event["response"]["usage"]["input_token_details"]
        assert (details["text_tokens"], details["audio_tokens"]) == recounted_input_usage(driver)
    return len(done)


def user_item(words: str, audio_ms: int) -> dict[str, Any]:
    content: list[dict[str, Any]] = [{"type": "input_text", "text": words}] if words else []
    if audio_ms:
        audio = (_AUDIO_100MS * (audio_ms // 100 + 1))[: audio_ms * 48]
        content.append({"type": "input_audio", "audio": base64.b64encode(audio).decode()})
    return {"type": "message", "role": "user", "content": content}


words = st.text(alphabet="abc xyz", max_size=40)
steps = st.lists(
    st.one_of(
        st.tuples(st.just("create"), words, st.sampled_from([0, 0, 150, 700]), st.integers(0, 9)),
        st.tuples(st.just("respond"), st.sampled_from(["text", "audio"])),
        st.tuples(st.just("out_of_band"), words, st.booleans()),
        st.tuples(st.just("delete"), st.integers(0, 9)),
        st.tuples(st.just("truncate"), st.integers(0, 9), st.integers(0, 400)),
        st.tuples(st.just("commit"), st.sampled_from([100, 300, 1200])),
        st.tuples(st.just("assistant"), words),
        st.tuples(st.just("wait"), st.sampled_from([0.05, 0.3, 2.0])),
    ),
    max_size=25,
)


def play(driver: SessionDriver, step: tuple[Any, ...]) -> list[dict[str, Any]]:
    ids = [item["id"] for item in driver.session.items]
    pick = (lambda n: ids[n % len(ids)]) if ids else (lambda n: "no_such_item")
    kind = step[0]
    if kind == "create":
        _, text, audio_ms, where = step
        event: dict[str, Any] = {
            "type": "conversation.item.create",
            "item": user_item(text, audio_ms),
        }
        if where == 0:
            event["previous_item_id"] = "root"
        elif where < 5 and ids:
            event["previous_item_id"] = pick(where)
        return driver.send(event)
    if kind == "respond":
        return driver.send(
            {"type": "response.create", "response": {"output_modalities": [step[1]]}}
        )
    if kind == "out_of_band":
        response: dict[str, Any] = {"conversation": "none"}
        if step[2]:
            response["input"] = [user_item(step[1] or "side", 0)]
        return driver.send({"type": "response.create", "response": response})
    if kind == "delete":
        return driver.send({"type": "conversation.item.delete", "item_id": pick(step[1])})
    if kind == "truncate":
        spoken = [
            item["id"]
            for item in driver.session.items
            if item.get("role") == "assistant" and driver.session.item_audio(item["id"])
        ]
        target = spoken[step[1] % len(spoken)] if spoken else pick(step[1])
        truncate = {"item_id": target, "content_index": 0, "audio_end_ms": step[2]}
        return driver.send({"type": "conversation.item.truncate", **truncate})
    if kind == "commit":
        audio = (_AUDIO_100MS * (step[1] // 100 + 1))[: step[1] * 48]
        append = {"type": "input_audio_buffer.append", "audio": base64.b64encode(audio).decode()}
        return driver.send(append) + driver.send({"type": "input_audio_buffer.commit"})
    if kind == "wait":
        return driver.advance(step[1])
    assert kind == "assistant"
    content = [{"type": "output_text", "text": step[1]}]
    assistant = {"type": "message", "role": "assistant", "content": content}
    return driver.send({"type": "conversation.item.create", "item": assistant})


def transcribing(pace: float = 0.0) -> SessionDriver:
    driver = SessionDriver(pace=pace)
    driver.session_update(
        audio={"input": {"turn_detection": None, "transcription": {"model": "whisper-1"}}}
    )
    return driver


@given(steps=steps, audio_cap=st.sampled_from([None, 40_000]), pace=st.sampled_from([0.0, 1.0]))
def test_usage_from_running_totals_equals_a_recount_of_every_item(
    steps: list[tuple[Any, ...]], audio_cap: int | None, pace: float
) -> None:
    """At pace 1 replies stream over the session's clock: out-of-band replies end while the
    conversation's is still streaming its item, and client events land mid-reply."""
    cap = conversation.MAX_CONVERSATION_AUDIO_BYTES if audio_cap is None else audio_cap
    # A small cap lets the oldest items' audio go within a few turns.
    with (
        mock.patch.object(conversation, "MAX_CONVERSATION_AUDIO_BYTES", cap),
        recounting() as reads,
    ):
        driver = transcribing(pace)
        done = 0
        for step in [*steps, ("wait", 60.0), ("respond", "text"), ("wait", 60.0)]:
            done += sum(e["type"] == "response.done" for e in play(driver, step))
    assert len(reads) == done >= 1


def test_usage_counts_a_truncated_items_transcript_gone() -> None:
    driver = transcribing()
    assert checked(driver, play(driver, ("respond", "audio"))) == 1
    assert checked(driver, play(driver, ("truncate", 0, 100))) == 0
    assert driver.session.items[0]["content"][0]["transcript"] is None
    assert checked(driver, play(driver, ("respond", "text"))) == 1


def test_usage_counts_audio_let_go_past_the_cap() -> None:
    with mock.patch.object(conversation, "MAX_CONVERSATION_AUDIO_BYTES", 40_000):
        driver = transcribing()
        play(driver, ("create", "", 700, 9))
        assert checked(driver, play(driver, ("respond", "text"))) == 1
        assert recounted_input_usage(driver)[1] == 7
        play(driver, ("commit", 300))  # 28,800 bytes more: the first item's audio goes
        assert checked(driver, play(driver, ("respond", "text"))) == 1
        assert recounted_input_usage(driver)[1] == 3


def test_usage_of_a_side_reply_ending_mid_stream_leaves_the_streaming_item_counted_again() -> None:
    driver = transcribing(pace=1.0)
    play(driver, ("create", "hello there", 0, 9))
    play(driver, ("respond", "audio"))
    driver.advance(0.1)  # the conversation's reply is streaming its item's audio
    side = {"conversation": "none", "output_modalities": ["text"], "input": [user_item("a", 0)]}
    assert checked(driver, driver.send({"type": "response.create", "response": side})) == 0
    ended = 0
    for _ in range(100):
        ended += checked(driver, driver.advance(0.1))
        if ended == 2:
            break
    assert ended == 2
    assert driver.session.items[-1]["content"][0]["transcript"]
    assert checked(driver, play(driver, ("respond", "text")) + driver.advance(60.0)) == 1


def test_usage_counts_a_transcript_an_item_takes_on_after_it_joined() -> None:
    """A committed turn's transcript arrives after its item joined: the next usage holds it."""
    driver = transcribing()
    events = play(driver, ("commit", 300))
    assert any(e["type"].endswith("transcription.completed") for e in events)
    assert checked(driver, play(driver, ("respond", "text"))) == 1
    assert text_of(driver.session.items[0])


def test_a_thousand_turns_are_counted_as_a_recount_counts_them() -> None:
    driver = SessionDriver()
    driver.session_update(output_modalities=["text"])
    responses = 0
    for n in range(1000):
        driver.send({"type": "conversation.item.create", "item": user_item(f"turn {n}", 0)})
        events = driver.send({"type": "response.create"})
        if n % 100 == 99:
            responses += checked(driver, events)
    assert responses == 10


def test_usage_forgets_a_deleted_items_text_and_audio() -> None:
    with recounting() as reads:
        driver = transcribing()
        play(driver, ("create", "some words to count", 300, 9))
        assert checked(driver, play(driver, ("respond", "text"))) == 1
        user = driver.session.items[0]["id"]
        driver.send({"type": "conversation.item.delete", "item_id": user})
        assert checked(driver, play(driver, ("respond", "text"))) == 1
    assert reads[0][1] == 3 and reads[1][1] == 0


def test_an_item_changed_in_place_is_counted_again_once_the_conversation_is_told() -> None:
    """The hook for code that changes an item's text after the step that added it."""
    driver = transcribing()
    play(driver, ("create", "short", 0, 9))
    assert checked(driver, play(driver, ("respond", "text"))) == 1
    item = driver.session.items[0]
    item["content"][0]["text"] = "a much longer text than before"
    driver.session.conversation.changed(item["id"])
    assert checked(driver, play(driver, ("respond", "text"))) == 1
