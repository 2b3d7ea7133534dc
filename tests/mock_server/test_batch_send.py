"""Events due at once go out in one write, as the same frames in the same order (issue 15).

The pump hands every event that is due at one instant to ``send_texts``; on the server's
``BatchConnection`` they pass websockets' send once and reach the socket as one buffer. The
frames, their bytes and their order must be what one ``send()`` per event gave.
"""

from __future__ import annotations

import asyncio
import json
from typing import Any

import pytest
from websockets.asyncio.client import connect
from websockets.asyncio.server import ServerConnection, serve
from websockets.frames import OP_TEXT, Frame

from mock_server.protocol.frames import WIRE_JSON
from mock_server.server.framing import BATCH_BYTES, BatchConnection, send_texts, text_frame
from tests.helpers import MODEL_QUERY, WAIT, connected, serving, user_message


async def _written_by(texts: list[str]) -> tuple[list[bytes], list[str]]:
    """What the transport was handed when the server sent ``texts``, and what a client read."""
    writes: list[bytes] = []
    done = asyncio.Event()

    async def handler(ws: ServerConnection) -> None:
        assert isinstance(ws, BatchConnection)
        write = ws.transport.write

        def counting(data: Any) -> None:
            writes.append(bytes(data))
            write(data)

        ws.transport.write = counting  # type: ignore[method-assign]
        await send_texts(ws, texts)
        await done.wait()

    options: dict[str, Any] = {"compression": None}
    async with serve(
        handler, "127.0.0.1", 0, create_connection=BatchConnection, **options
    ) as server:
        port = next(iter(server.sockets)).getsockname()[1]
        async with connect(f"ws://127.0.0.1:{port}", **options) as ws:
            read = [str(await asyncio.wait_for(ws.recv(), WAIT)) for _ in texts]
            before_close = list(writes)
            done.set()
    return before_close, read


async def test_the_frames_of_one_send_reach_the_socket_in_one_write_in_order() -> None:
    texts = ['{"a":1}', "é and ünïcode", "x" * 70_000, ""]
    writes, read = await _written_by(texts)
    assert read == texts
    assert writes == [b"".join(_websockets_frame(text.encode()) for text in texts)]


def _websockets_frame(data: bytes) -> bytes:
    return Frame(OP_TEXT, data).serialize(mask=False, extensions=[])


@pytest.mark.parametrize("size", [0, 1, 125, 126, 127, 65535, 65536, 70_000])
def test_a_text_frame_is_the_bytes_websockets_makes(size: int) -> None:
    data = bytes(range(256)) * (size // 256) + bytes(range(size % 256))
    assert text_frame(data) == _websockets_frame(data)


async def test_a_session_sends_the_same_frames_in_order_as_its_transcript_holds() -> None:
    """A whole text reply at pace 0 (15 events due at once): every frame the client reads is
    the wire encoding of the event the transcript holds at its place, in order, none missing."""
    async with serving() as server:
        async with connected(server.ws_url + MODEL_QUERY) as ws:
            update = {"type": "realtime", "output_modalities": ["text"]}
            await ws.send(json.dumps({"type": "session.update", "session": update}))
            await ws.send(
                json.dumps({"type": "conversation.item.create", "item": user_message("hello")})
            )
            await ws.send(json.dumps({"type": "response.create"}))
            frames: list[str] = []
            while not frames or json.loads(frames[-1])["type"] != "response.done":
                frames.append(str(await asyncio.wait_for(ws.recv(), WAIT)))
        sent = server.connections[0].transcript.server_events()[1:]  # after session.created
    assert len(frames) >= 15
    assert frames == [WIRE_JSON.encode(event) for event in sent[: len(frames)]]


async def test_a_reply_larger_than_one_batch_is_sent_whole_and_in_order() -> None:
    """An audio reply at pace 0 (hundreds of KB due at once, several batches)."""
    async with serving() as server:
        async with connected(server.ws_url + MODEL_QUERY) as ws:
            await ws.send(
                json.dumps({"type": "conversation.item.create", "item": user_message("hello")})
            )
            await ws.send(json.dumps({"type": "response.create"}))
            frames: list[str] = []
            while not frames or json.loads(frames[-1])["type"] != "response.done":
                frames.append(str(await asyncio.wait_for(ws.recv(), WAIT)))
        sent = server.connections[0].transcript.server_events()[1:]
    assert sum(len(f) for f in frames) > BATCH_BYTES  # two batches at least
    assert frames == [WIRE_JSON.encode(event) for event in sent[: len(frames)]]
