"""A lean WebSocket client for load generators: the measuring instrument, kept cheap.

The concurrency benchmarks stream 20 ms appends from hundreds of sessions and receive every
server frame (the spoken answers' audio deltas included). With websockets' client the load
generator spent about a third of the server's CPU per session, and in ``bench.workers`` it
shares the two CPUs with the workers, so what it spent came out of the figure. This client
does the same work on the wire with fewer Python steps:

- each client frame is built once (:func:`text_frame`) and sent as ready bytes: one
  ``transport.write`` a frame. RFC 6455 requires the mask bit on client frames and lets the
  key be any value; the key here is zero, so the payload goes unchanged and a frame can be
  encoded before it is sent (fine for a benchmark's own traffic, never for a browser's);
- server frames are split by their headers only: text frames are handed over as bytes, for
  the caller to search without decoding them; pings are answered, a close ends the reading.

The server sees the same frames as from any client: same payloads, no compression.
"""

from __future__ import annotations

import asyncio
import json
import struct
from collections.abc import Callable
from typing import Any
from urllib.parse import urlsplit

from websockets.utils import accept_key, generate_key

from mock_server.server.framing import frame_head, frame_span

_ZERO_MASK = b"\x00\x00\x00\x00"
TEXT, CLOSE, PING, PONG = 0x1, 0x8, 0x9, 0xA
# Past this much unparsed input the server is not speaking WebSocket to us.
_HEAD_LIMIT = 65536


def frame(opcode: int, payload: bytes) -> bytes:
    """One final, masked client frame (zero mask key: the payload as it is).

    >>> frame(TEXT, b"hi")
    b'\\x81\\x82\\x00\\x00\\x00\\x00hi'
    """
    return frame_head(0x80 | opcode, len(payload), masked=True) + _ZERO_MASK + payload


def text_frame(text: str) -> bytes:
    """A text message as the bytes :meth:`RawClient.send` writes."""
    return frame(TEXT, text.encode("utf-8"))


def json_frame(event: dict[str, Any]) -> bytes:
    """An event as a text message's frame, in ``json.dumps``'s default form."""
    return text_frame(json.dumps(event))


class RawClient(asyncio.Protocol):
    """One client connection: the handshake, then frames in both directions.

    ``on_text`` is called with each text frame's payload (bytes) as it arrives."""

    def __init__(self, key: str) -> None:
        self.on_text: Callable[[bytes], None] | None = None
        self.transport: asyncio.Transport | None = None
        self._key = key
        self._buffer = bytearray()
        self._upgraded = False
        self.opened: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self.closed: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        # Text frames that came before ``on_text`` was set, for :meth:`recv`.
        self._inbox: list[bytes] = []
        self._first: asyncio.Future[bytes] | None = None

    # ---- asyncio.Protocol ----------------------------------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport

    def data_received(self, data: bytes) -> None:
        buffer = self._buffer
        buffer += data
        if not self._upgraded:
            end = buffer.find(b"\r\n\r\n")
            if end < 0:
                if len(buffer) > _HEAD_LIMIT:
                    self._fail("the handshake's answer has no end")
                return
            head = bytes(buffer[:end]).decode("latin-1")
            del buffer[: end + 4]
            self._check_upgrade(head)
            if not self._upgraded:
                return
        offset = 0
        while (span := frame_span(buffer, offset)) is not None:
            if buffer[offset + 1] & 0x80:
                self._fail("the server masked a frame")
                return
            start, stop = span
            if stop > len(buffer):
                break
            opcode = buffer[offset] & 0x0F
            payload = bytes(buffer[start:stop])
            offset = stop
            self._frame(opcode, payload)
        if offset:
            del buffer[:offset]

    def connection_lost(self, exc: Exception | None) -> None:
        if not self.opened.done():
            self.opened.set_exception(ConnectionError(f"connection lost: {exc}"))
        if self._first is not None and not self._first.done():
            self._first.set_exception(ConnectionError("connection lost before a frame"))
        if not self.closed.done():
            self.closed.set_result(None)

    # ---- use -------------------------------------------------------------------------------

    def send(self, ready: bytes) -> None:
        """Write a frame built by :func:`text_frame` (or :func:`frame`)."""
        assert self.transport is not None
        self.transport.write(ready)

    async def recv(self) -> bytes:
        """The next text frame's payload (for the first frames, before ``on_text`` is set)."""
        if self._inbox:
            return self._inbox.pop(0)
        self._first = asyncio.get_running_loop().create_future()
        return await self._first

    def close(self) -> None:
        """Send a close frame (1000) and end the connection."""
        if self.transport is not None and not self.transport.is_closing():
            self.transport.write(frame(CLOSE, struct.pack("!H", 1000)))
            self.transport.close()

    # ---- inside ----------------------------------------------------------------------------

    def _frame(self, opcode: int, payload: bytes) -> None:
        if opcode == TEXT:
            if self.on_text is not None:
                self.on_text(payload)
            elif self._first is not None and not self._first.done():
                self._first.set_result(payload)
            else:
                self._inbox.append(payload)
        elif opcode == PING:
            self.send(frame(PONG, payload))
        elif opcode == CLOSE:
            self.close()

    def _check_upgrade(self, head: str) -> None:
        lines = head.split("\r\n")
        if not lines[0].startswith("HTTP/1.1 101"):
            self._fail(f"the server refused the upgrade: {lines[0]!r}")
            return
        headers = {}
        for line in lines[1:]:
            name, _, value = line.partition(":")
            headers[name.strip().lower()] = value.strip()
        if headers.get("sec-websocket-accept") != accept_key(self._key):
            self._fail("the server's Sec-WebSocket-Accept is wrong")
            return
        self._upgraded = True
        self.opened.set_result(None)

    def _fail(self, why: str) -> None:
        if not self.opened.done():
            self.opened.set_exception(ConnectionError(why))
        if self.transport is not None:
            self.transport.abort()


async def connect(url: str, headers: dict[str, str], timeout: float = 60.0) -> RawClient:
    """Open ``url`` (``ws://`` only) with ``headers``; the client once upgraded."""
    parts = urlsplit(url)
    if parts.scheme != "ws" or parts.hostname is None:
        raise ValueError(f"a ws:// URL is needed, not {url!r}")
    port = parts.port or 80
    target = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    key = generate_key()
    lines = [
        f"GET {target} HTTP/1.1",
        f"Host: {parts.hostname}:{port}",
        "Upgrade: websocket",
        "Connection: Upgrade",
        f"Sec-WebSocket-Key: {key}",
        "Sec-WebSocket-Version: 13",
        *(f"{name}: {value}" for name, value in headers.items()),
    ]
    loop = asyncio.get_running_loop()
    _, client = await loop.create_connection(lambda: RawClient(key), parts.hostname, port)
    assert client.transport is not None
    client.transport.write(("\r\n".join(lines) + "\r\n\r\n").encode("latin-1"))
    try:
        await asyncio.wait_for(asyncio.shield(client.opened), timeout)
    except BaseException:
        client.transport.abort()
        raise
    return client
