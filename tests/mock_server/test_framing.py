"""Client frames read straight into the session arrive whole, once, and in order (issue 15).

The server's connection splits the client's bytes into frames itself and hands each plain text
frame to the session while its pump waits, leaving everything else (pings, fragments, binary
frames, frames while the pump is busy) to websockets. Here the server connection is fed one
stream of frames cut at arbitrary points, with the loop let run or not between the pieces: the
session must see every event once, in the order sent, however the bytes arrive, and the frames
websockets must see whole (a fragmented message, a ping) must come out as they would without
the short way.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import os
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st
from websockets.frames import OP_BINARY, OP_CONT, OP_PING, OP_TEXT, Frame

from mock_server.server import MockServer, Mount
from mock_server.server.framing import BatchConnection
from tests.helpers import MODEL_QUERY, WAIT, connected, recv_until, send, user_text


def _masked(frame: Frame) -> bytes:
    return frame.serialize(mask=True, extensions=[])


def _event(n: int, size: int) -> dict[str, Any]:
    return {**user_text("x" * size), "event_id": f"e{n}"}


# What a piece of the stream holds: a small event, one past 125 bytes (16-bit length), one
# past 64 KiB (64-bit length), a fragmented event, a ping, a binary frame.
KINDS = ["small", "small", "small", "medium", "large", "fragmented", "ping", "binary"]


def _stream(kinds: list[str]) -> tuple[bytes, list[str]]:
    """The bytes of ``kinds`` as client frames, and the transcript's client entries they make
    (an event's id, ``<binary>``)."""
    data, expected = b"", []
    for n, kind in enumerate(kinds):
        size = {"medium": 300, "large": 70_000}.get(kind, 5)
        text = json.dumps(_event(n, size)).encode()
        if kind == "ping":
            data += _masked(Frame(OP_PING, b"p"))
            continue
        if kind == "binary":
            data += _masked(Frame(OP_BINARY, b"\x00\x01"))
            expected.append("<binary>")
            continue
        if kind == "fragmented":
            data += _masked(Frame(OP_TEXT, text[:10], fin=False))
            data += _masked(Frame(OP_CONT, text[10:20], fin=False))
            data += _masked(Frame(OP_CONT, text[20:]))
        else:
            data += _masked(Frame(OP_TEXT, text))
        expected.append(f"e{n}")
    return data, expected


async def _feed(pieces: list[tuple[bytes, bool]]) -> tuple[list[str], int]:
    """Feed the pieces to a session's server connection (yielding to the loop after those
    marked), then an ``end`` marker through the socket: the transcript's client entries, and
    the frames the client got before the marker's answer."""
    async with MockServer(port=0, default_mount=Mount(pace=0.0, seed=1)) as server:
        async with connected(server.ws_url + MODEL_QUERY) as ws:
            (front,) = server._servers
            (conn,) = front.connections
            assert isinstance(conn, BatchConnection) and conn.framing
            for piece, yields in pieces:
                conn.data_received(piece)
                if yields:
                    await asyncio.sleep(0)  # the pump may run now, or not
            await send(ws, {"type": "response.cancel", "event_id": "end"})
            got = 0
            while True:
                event = json.loads(await asyncio.wait_for(ws.recv(), WAIT))
                got += 1
                if event.get("type") == "error" and event["error"].get("event_id") == "end":
                    break
        entries = server.connections[0].transcript.entries
    client = [e for e in entries if e.direction == "client"]
    return [e.event.get("event_id", e.type) if e.event else e.type for e in client], got


@st.composite
def _pieces(draw: st.DrawFn) -> tuple[list[str], list[tuple[bytes, bool]]]:
    kinds = draw(st.lists(st.sampled_from(KINDS), min_size=1, max_size=8))
    data, _ = _stream(kinds)
    cuts = sorted(draw(st.sets(st.integers(1, max(1, len(data) - 1)), max_size=12)))
    bounds = [0, *cuts, len(data)]
    pieces = [(data[a:b], draw(st.booleans())) for a, b in itertools.pairwise(bounds) if b > a]
    return kinds, pieces


@pytest.mark.skipif(os.name != "posix", reason="the server's loop is the test's")
@given(_pieces())
def test_every_event_arrives_once_in_order_however_the_bytes_are_cut(
    drawn: tuple[list[str], list[tuple[bytes, bool]]],
) -> None:
    kinds, pieces = drawn
    _, expected = _stream(kinds)
    seen, _ = asyncio.run(_feed(pieces))
    assert seen == [*expected, "end"]


async def test_each_event_is_answered_when_its_frame_arrives_byte_by_byte() -> None:
    data, expected = _stream(["small", "medium", "fragmented", "small"])
    seen, got = await _feed([(data[i : i + 1], i % 7 == 0) for i in range(len(data))])
    assert seen == [*expected, "end"]
    assert got == 2 * len(expected) + 1  # GA: item.added and .done for each, then the error


async def test_a_frame_cut_short_by_the_end_of_the_stream_is_a_lost_connection() -> None:
    async with MockServer(port=0, default_mount=Mount(pace=0.0, seed=1)) as server:
        async with connected(server.ws_url + MODEL_QUERY) as ws:
            (conn,) = server._servers[0].connections
            whole = _masked(Frame(OP_TEXT, json.dumps(_event(1, 5)).encode()))
            conn.data_received(whole + whole[:7])
            conn.eof_received()
            await recv_until(ws, "conversation.item.done")
            await asyncio.wait_for(ws.wait_closed(), WAIT)
        await server.wait_for_sessions(0)
        (ended,) = server.connections
    assert ended.transcript.closed is not None and ended.transcript.closed[0] == 1006
    assert [e.event["event_id"] for e in ended.transcript.entries if e.direction == "client"] == [
        "e1"
    ]


async def test_a_text_frame_inside_a_fragmented_message_is_still_a_protocol_error() -> None:
    async with MockServer(port=0, default_mount=Mount(pace=0.0, seed=1)) as server:
        async with connected(server.ws_url + MODEL_QUERY) as ws:
            (conn,) = server._servers[0].connections
            text = json.dumps(_event(1, 5)).encode()
            conn.data_received(_masked(Frame(OP_TEXT, text[:10], fin=False)))
            for _ in range(3):
                await asyncio.sleep(0)  # the pump's recv() takes the fragment, waits for more
            conn.data_received(_masked(Frame(OP_TEXT, text)))  # RFC 6455: a continuation
            await asyncio.wait_for(ws.wait_closed(), WAIT)
            assert ws.close_code == 1002
        await server.wait_for_sessions(0)
    client = [e for e in server.connections[0].transcript.entries if e.direction == "client"]
    assert client == []  # neither frame is an event
