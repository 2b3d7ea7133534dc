"""The server's WebSocket connection: websockets' own, with the mock's two paths for its most
frequent work.

- **Writing.** Several events are often due at once (a whole reply at ``pace: fast``,
  ``item.added`` and ``.done``): :func:`send_texts` queues their frames in one pass of
  websockets' send, and :meth:`BatchConnection.send_data` writes them as one buffer.
- **Reading.** A client's small text frames (an append, an item, a ``response.create``) are the
  server's most frequent input. Through websockets each one is parsed by a generator, queued,
  and handed to the pump's ``recv()`` by waking its task: about 60 Python calls and one more
  turn of the event loop per frame. While the pump waits for a frame, a :class:`BatchConnection`
  with a :attr:`~BatchConnection.reader` hands each complete, final, masked text frame to that
  reader as it arrives (:data:`Reader`), which answers it at once.

Everything else goes to websockets, exactly as it came: control frames (pings, the close),
binary and fragmented messages, invalid UTF-8, a frame over ``max_size``, a frame arriving
while the pump is busy or frames are queued, every frame once the connection is closing. Only
complete frames are ever handed over, so websockets' parser is always at a frame boundary when
the reader takes the next one, and the order of frames is kept: a frame is read directly only
when nothing before it waits in websockets' queue.
"""

from __future__ import annotations

import asyncio
import contextlib
import struct
from collections.abc import Callable
from typing import Any

from websockets.asyncio.server import ServerConnection
from websockets.protocol import Side, State

try:
    from websockets.speedups import apply_mask
except ImportError:  # pragma: no cover - websockets built without its C extension
    from websockets.utils import apply_mask

# Events due at once are written together up to this many characters (then the write waits for
# the socket like any send: the connection's write limit holds).
BATCH_BYTES = 64 * 1024
_HEADER_16 = struct.Struct("!BBH")
_HEADER_64 = struct.Struct("!BBQ")
_LENGTH_16 = struct.Struct("!H")
_LENGTH_64 = struct.Struct("!Q")
# The first byte of a final text frame (FIN, no RSV bit, opcode 1), and the mask bit.
_FINAL_TEXT = 0x81
_MASKED = 0x80

# Takes one client text frame while the pump waits; False: it may not now (the frame then goes
# to websockets' queue, for the pump's recv()).
Reader = Callable[[str], bool]


class BatchConnection(ServerConnection):
    """websockets' server connection, writing the frames of one send in one write and handing
    the pump's :attr:`reader` the client's text frames directly (see the module's text)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        # Set by the pump for the time its session runs; None: every frame goes to websockets.
        self.reader: Reader | None = None
        # Frames are split here from the first byte after the request's head (see the front):
        # False until then, and for good once a frame is one websockets must see whole.
        self.framing = False
        self._partial = bytearray()  # the start of a frame not yet complete
        self._need = 0  # how long the partial frame is, once its header is in (0: unknown)

    # ---- reading ---------------------------------------------------------------------------

    def data_received(self, data: bytes) -> None:
        if not self.framing:
            super().data_received(data)
            return
        if self._partial:
            self._partial += data
            if len(self._partial) < self._need:
                return  # a large frame arriving: nothing to look at before it is whole
            data = bytes(self._partial)
            self._partial.clear()
        self._need = 0
        end = len(data)
        pos = 0  # the next frame's first byte
        held = 0  # the first byte not yet given to anyone
        max_size = self.protocol.max_size
        while (span := frame_span(data, pos)) is not None:
            first, second = data[pos], data[pos + 1]
            start, stop = span
            if max_size is not None and stop - start > max_size:
                # websockets refuses it (1009); everything from here on is its to read.
                self.framing = False
                super().data_received(data[held:])
                return
            if stop > end:
                self._need = stop - pos
                break
            reader = self.reader
            if first == _FINAL_TEXT and second & _MASKED and reader is not None:
                if held < pos:
                    super().data_received(data[held:pos])
                    held = pos
                if self._direct():
                    try:
                        text = apply_mask(data[start:stop], data[start - 4 : start]).decode()
                    except UnicodeDecodeError:
                        text = None  # websockets closes with 1007, as for any other frame
                    if text is not None and reader(text):
                        held = stop
            pos = stop
        if held < pos:
            super().data_received(data[held:pos])
        if pos < end:
            self._partial += data[pos:]

    def _direct(self) -> bool:
        """Whether the next frame may skip websockets: nothing waits before it in websockets'
        queue, no fragmented message is being read, and the connection is open."""
        protocol = self.protocol
        return (
            protocol.state is State.OPEN
            and protocol.cur_size is None
            and not self.recv_messages.frames.queue
        )

    def eof_received(self) -> None:
        if self._partial:  # a frame cut short: websockets says so (1006) as before
            self.framing = False
            super().data_received(bytes(self._partial))
            self._partial.clear()
        super().eof_received()

    # ---- writing ---------------------------------------------------------------------------

    def send_data(self) -> None:
        pending: list[bytes] = []
        for data in self.protocol.data_to_send():
            if data:
                pending.append(data)
                continue
            self._write(pending)
            pending = []
            # websockets' end of stream: half-close the TCP connection when possible.
            if self.transport.can_write_eof():
                with contextlib.suppress(OSError, RuntimeError):
                    self.transport.write_eof()
            else:  # pragma: no cover - TLS
                self.transport.close()
        self._write(pending)

    def _write(self, pending: list[bytes]) -> None:
        if len(pending) == 1:
            self.transport.write(pending[0])
        elif pending:
            self.transport.write(b"".join(pending))

    def room(self) -> int:
        """How much a batch of frames may hold now: what the socket's buffer takes before its
        write limit, at most :data:`BATCH_BYTES`, and at least 1 (a frame always goes, then
        the send waits for the socket). A batch the size of BATCH_BYTES written just under the
        limit left the buffer that much over it."""
        high = self.transport.get_write_buffer_limits()[1]
        return max(1, min(BATCH_BYTES, high - self.transport.get_write_buffer_size()))

    def write_now(self, texts: list[str]) -> bool:
        """Write each text as a text frame now, all in one write, when the socket can take
        them without waiting (open, and they fit in :meth:`room`); False, writing nothing,
        when it cannot (then ``send_texts`` waits for it)."""
        if self.paused or not _plain(self) or sum(map(len, texts)) >= self.room():
            return False
        if self.protocol.writes:  # websockets' own queued bytes (a pong) go first
            self.send_data()
        if len(texts) == 1:
            self.transport.write(text_frame(texts[0].encode()))
        elif texts:
            self.transport.write(b"".join([text_frame(text.encode()) for text in texts]))
        return True


def _plain(ws: ServerConnection) -> bool:
    """Whether websockets' send_text would queue a plain frame (see :func:`text_frame`)."""
    protocol = ws.protocol
    return (
        protocol.side is Side.SERVER
        and not protocol.extensions
        and not protocol.debug
        and not protocol.expect_continuation_frame
        and protocol.state is State.OPEN
    )


def batch_room(ws: ServerConnection) -> int:
    """How much text the next batch of events for ``send_texts`` may hold (see
    :meth:`BatchConnection.room`)."""
    return ws.room() if isinstance(ws, BatchConnection) else BATCH_BYTES


async def send_texts(ws: ServerConnection, texts: list[str]) -> None:
    """Send each text as one text frame, in order: through one pass of websockets' send
    (state checks, one write, flow control) on a :class:`BatchConnection`, else one
    ``send()`` each."""
    if not isinstance(ws, BatchConnection):
        for text in texts:
            await ws.send(text)
        return
    # What websockets' send() does for one text, for all of them: wait out a fragmented
    # message being sent, then queue the frames and write them in one send context.
    while ws.fragmented_send_waiter is not None:
        await asyncio.shield(ws.fragmented_send_waiter)
    async with ws.send_context():
        protocol = ws.protocol
        writes = getattr(protocol, "writes", None)
        if isinstance(writes, list) and _plain(ws):
            # What protocol.send_text(data) queues in this state (an unmasked final text
            # frame, no extension), built in one step: 1 us a frame instead of 4.
            writes.extend(text_frame(text.encode()) for text in texts)
        else:
            for text in texts:
                protocol.send_text(text.encode())


def text_frame(data: bytes) -> bytes:
    """The bytes of a final, unmasked text frame holding ``data`` (RFC 6455 section 5.2): what
    websockets' ``Frame(OP_TEXT, data).serialize(mask=False, extensions=[])`` gives."""
    return frame_head(_FINAL_TEXT, len(data)) + data


def frame_head(first: int, size: int, masked: bool = False) -> bytes:
    """A frame's header up to its mask key: its first byte (FIN, RSV, opcode), and the length
    of a payload of ``size`` bytes in the fewest bytes, with the mask bit when ``masked`` (RFC
    6455 section 5.2; the load generators' client, ``bench/rawws.py``, writes with it too)."""
    mask = _MASKED if masked else 0
    if size < 126:
        return bytes((first, mask | size))
    if size < 65536:
        return _HEADER_16.pack(first, mask | 126, size)
    return _HEADER_64.pack(first, mask | 127, size)


def frame_span(data: bytes | bytearray, pos: int) -> tuple[int, int] | None:
    """Where the payload of the frame that starts at ``pos`` lies, ``(start, stop)`` (a masked
    frame's key is the 4 bytes before ``start``), read from its header; None while the header
    is not all in. ``stop`` past the end: the payload is still arriving. (RFC 6455 section
    5.2; ``bench/rawws.py`` splits the server's frames with it too.)"""
    end = len(data)
    start = pos + 2
    if start > end:
        return None
    second = data[pos + 1]
    length = second & 0x7F
    if length == 126:
        if end - start < 2:
            return None
        length = _LENGTH_16.unpack_from(data, start)[0]
        start += 2
    elif length == 127:
        if end - start < 8:
            return None
        length = _LENGTH_64.unpack_from(data, start)[0]
        start += 8
    if second & _MASKED:
        start += 4
    return start, start + length
