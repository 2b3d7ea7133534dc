"""The load generators' lean WebSocket client (bench/rawws.py) against websockets' own server."""

from __future__ import annotations

import asyncio
import json

import pytest
from websockets.asyncio.server import ServerConnection, serve
from websockets.frames import Frame, Opcode
from websockets.streams import StreamReader

from bench import rawws


def _parse_client_frame(data: bytes) -> Frame:
    """websockets' own parser, reading ``data`` as a server reads a client's frame."""
    reader = StreamReader()
    reader.feed_data(data)
    reader.feed_eof()
    parser = Frame.parse(reader.read_exact, mask=True)
    try:
        next(parser)
    except StopIteration as done:
        frame: Frame = done.value
        return frame
    raise AssertionError("the frame is incomplete")


@pytest.mark.parametrize("size", [0, 125, 126, 65535, 65536])
def test_a_built_frame_is_what_websockets_parses(size: int) -> None:
    text = "é" * (size // 2) + "a" * (size % 2)
    parsed = _parse_client_frame(rawws.text_frame(text))
    assert parsed.opcode is Opcode.TEXT and parsed.fin
    assert bytes(parsed.data).decode("utf-8") == text


async def _with_server(answer: object) -> tuple[list[str], list[bytes]]:
    """Serve ``answer`` (a handler) on 127.0.0.1; a raw client sends two frames and collects
    what it is sent until the server closes."""
    received: list[str] = []

    async def handler(ws: ServerConnection) -> None:
        await ws.send(json.dumps({"type": "session.created"}))
        for _ in range(2):
            message = await ws.recv()
            assert isinstance(message, str)
            received.append(message)
        assert callable(answer)
        await answer(ws)

    async with serve(handler, "127.0.0.1", 0, compression=None) as server:
        port = next(iter(server.sockets)).getsockname()[1]
        client = await rawws.connect(
            f"ws://127.0.0.1:{port}/v1/realtime?model=x", {"Authorization": "Bearer sk-t"}
        )
        first = await asyncio.wait_for(client.recv(), 10)
        texts: list[bytes] = [first]
        client.on_text = texts.append
        client.send(rawws.text_frame('{"type": "a"}'))
        client.send(rawws.text_frame("b" * 70000))
        await asyncio.wait_for(client.closed, 10)
    return received, texts


def test_frames_go_both_ways_and_a_close_ends_the_connection() -> None:
    async def answer(ws: ServerConnection) -> None:
        await ws.send("x" * 200)
        await ws.send("y" * 70000)
        await ws.close()

    received, texts = asyncio.run(_with_server(answer))
    assert received == ['{"type": "a"}', "b" * 70000]
    assert texts == [b'{"type": "session.created"}', b"x" * 200, b"y" * 70000]


def test_a_ping_is_answered() -> None:
    async def answer(ws: ServerConnection) -> None:
        pong = await ws.ping(b"probe")
        await asyncio.wait_for(pong, 10)  # fails the handler (and the test) if unanswered
        await ws.send("pong seen")
        await ws.close()

    _, texts = asyncio.run(_with_server(answer))
    assert texts[-1] == b"pong seen"


def test_a_refused_upgrade_is_an_error_that_says_so() -> None:
    async def refuse() -> None:
        async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            await reader.readuntil(b"\r\n\r\n")
            writer.write(b"HTTP/1.1 401 Unauthorized\r\nContent-Length: 0\r\n\r\n")
            await writer.drain()
            writer.close()

        server = await asyncio.start_server(handle, "127.0.0.1", 0)
        port = server.sockets[0].getsockname()[1]
        async with server:
            with pytest.raises(ConnectionError, match="401"):
                await rawws.connect(f"ws://127.0.0.1:{port}/", {}, timeout=10)

    asyncio.run(refuse())
