"""One listener for plain HTTP and WebSocket upgrades on the same port, ws or wss.

websockets' own server refuses every method but GET before the application sees the request,
so the listener is ours: each accepted connection starts as an :class:`HttpFront`, an asyncio
protocol that buffers a request's head. A WebSocket upgrade is handed, with the bytes buffered
so far, to a websockets ``ServerConnection`` (``transport.set_protocol``): from then on the
transport talks to websockets directly, so the front adds nothing per frame, and websockets
runs the handshake (``process_request``, the subprotocol, its limits and timeout) as before.
Any other request is parsed by h11 (strict HTTP/1.1: Content-Length or chunked bodies, bounded
by :data:`MAX_BODY_BYTES`) and answered by the server's ``answer`` coroutine; the connection is
kept alive for the next request unless the client says otherwise.

:func:`listen` opens the listener; a pre-bound ``sock`` (or ``reuse_port``) goes to
``loop.create_server`` as is, for servers whose processes share one port.
"""

from __future__ import annotations

import asyncio
import logging
import socket
import ssl as ssl_module
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from websockets.asyncio.server import Server, ServerConnection
from websockets.datastructures import Headers
from websockets.http11 import Request, Response
from websockets.server import ServerProtocol
from websockets.typing import Subprotocol

from mock_server.protocol.http import HttpRequest, openai_error
from mock_server.server.framing import BatchConnection

if TYPE_CHECKING:
    import h11

log = logging.getLogger("realtime_mock")

# A request's head (request line and headers) larger than this gets 431 (websockets' own bound
# on a handshake is 128 headers of 8 KiB each; no real client sends 64 KiB of head).
MAX_HEAD_BYTES = 64 * 1024
# A plain request's body larger than this gets 413: the largest body the mock reads is a
# scenario posted to the control API, itself bounded at 4 MiB (scenario/yaml_source.py).
MAX_BODY_BYTES = 5 * 1024 * 1024
# How long a connection may take to send a whole request (head and body, from its first byte),
# or stay silent when it is new or kept alive between two requests, before it is closed.
HEAD_TIMEOUT = 10.0

Answer = Callable[[HttpRequest], Awaitable[Response]]
ProcessRequest = Callable[[ServerConnection, Request], Awaitable[Response | None]]
ProcessResponse = Callable[[ServerConnection, Request, Response], None]
SelectSubprotocol = Callable[[ServerConnection, Sequence[Subprotocol]], Subprotocol | None]


@dataclass(frozen=True)
class WebSocketOptions:
    """What every upgraded connection is built with (websockets' own parameters)."""

    process_request: ProcessRequest
    select_subprotocol: SelectSubprotocol
    max_size: int
    write_limit: int
    max_queue: int
    open_timeout: float
    server_header: str
    logger: logging.Logger | logging.LoggerAdapter[Any]
    ping_interval: float | None = None
    close_timeout: float = 10.0
    # The connection class (the server's writes the events due at once in one write).
    connection_class: type[ServerConnection] = ServerConnection
    process_response: ProcessResponse | None = None  # e.g. the worker's name on each handshake


class Front:
    """One listening socket (or a few, one per address family): the websockets ``Server`` that
    runs the upgraded connections, and the plain HTTP connections still open."""

    def __init__(
        self,
        handler: Callable[[ServerConnection], Awaitable[None]],
        answer: Answer,
        options: WebSocketOptions,
    ) -> None:
        self.answer = answer
        self.options = options
        self.websockets = Server(
            handler,
            process_request=options.process_request,
            process_response=options.process_response,
            server_header=options.server_header,
            open_timeout=options.open_timeout,
            logger=options.logger,
        )
        self.plain: set[HttpFront] = set()

    @property
    def sockets(self) -> tuple[socket.socket, ...]:
        return tuple(self.websockets.server.sockets)

    @property
    def connections(self) -> set[ServerConnection]:
        """The upgraded connections open now."""
        return self.websockets.connections

    def upgrade(self) -> ServerConnection:
        """A websockets connection (an asyncio protocol) for one upgrade, built as websockets'
        own ``serve`` builds it."""
        options = self.options
        connection: ServerConnection

        def choose(protocol: ServerProtocol, offered: Sequence[Subprotocol]) -> Subprotocol | None:
            return options.select_subprotocol(connection, offered)

        protocol = ServerProtocol(
            select_subprotocol=choose, max_size=options.max_size, logger=options.logger
        )
        connection = options.connection_class(
            protocol,
            self.websockets,
            ping_interval=options.ping_interval,
            close_timeout=options.close_timeout,
            max_queue=options.max_queue,
            write_limit=options.write_limit,
        )
        return connection

    def close(self) -> None:
        """Stop listening, close the plain connections, and the upgraded ones with 1001."""
        for front in list(self.plain):
            front.close()
        self.websockets.close(close_connections=True)

    async def wait_closed(self) -> None:
        await self.websockets.wait_closed()


async def listen(
    front: Front,
    host: str | None,
    port: int | None,
    *,
    ssl: ssl_module.SSLContext | None = None,
    sock: socket.socket | None = None,
    reuse_port: bool | None = None,
) -> Front:
    """Listen on ``host:port`` (or the pre-bound ``sock``) with ``front``; TLS with ``ssl``."""
    loop = asyncio.get_running_loop()
    extra: dict[str, Any] = {}
    if ssl is not None:
        extra = {
            "ssl": ssl,
            "ssl_handshake_timeout": front.options.open_timeout,
            "ssl_shutdown_timeout": front.options.close_timeout,
        }
    if sock is not None:
        server = await loop.create_server(lambda: HttpFront(front), sock=sock, **extra)
    else:
        server = await loop.create_server(
            lambda: HttpFront(front), host, port, reuse_port=reuse_port, **extra
        )
    front.websockets.wrap(server)
    return front


class HttpFront(asyncio.Protocol):
    """One accepted connection until it is an upgrade (then websockets has it) or closes."""

    def __init__(self, front: Front) -> None:
        self.front = front
        self.transport: asyncio.Transport | None = None
        self.buffer = bytearray()  # the current request's bytes, before h11 has them
        self.parser: h11.Connection | None = None  # the current request's, once its head is in
        self.request: h11.Request | None = None
        self.body = bytearray()
        self.answering: asyncio.Task[None] | None = None
        self.timer: asyncio.TimerHandle | None = None
        self.closed = False
        self.eof = False  # the client will send nothing more (it may still read the answer)

    # ---- asyncio.Protocol ------------------------------------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport
        self.front.plain.add(self)
        self._arm_timer()

    def data_received(self, data: bytes) -> None:
        if self.parser is None:
            if not self.buffer:  # a new request: it has HEAD_TIMEOUT to arrive whole
                self._arm_timer()
            self.buffer += data
            self._read_head()
        else:
            self.parser.receive_data(data)
            self._read_message()

    def eof_received(self) -> bool | None:
        self.eof = True
        if self.parser is not None and self.answering is None:
            self.parser.receive_data(b"")
            self._read_message()
        if self.answering is not None:
            return True  # keep the transport open to write the answer (then close)
        self.close()
        return None

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True
        self.front.plain.discard(self)
        if self.timer is not None:
            self.timer.cancel()

    # ---- reading ---------------------------------------------------------------------------

    def _arm_timer(self) -> None:
        if self.timer is not None:
            self.timer.cancel()
        self.timer = asyncio.get_running_loop().call_later(HEAD_TIMEOUT, self._timed_out)

    def _timed_out(self) -> None:
        if self.answering is None:  # a route may take its time; the client may not
            self.close()

    def _read_head(self) -> None:
        end = self.buffer.find(b"\r\n\r\n")
        if end > MAX_HEAD_BYTES or (end < 0 and len(self.buffer) > MAX_HEAD_BYTES):
            self._refuse(431, f"The request's head is larger than {MAX_HEAD_BYTES} bytes.")
            return
        if end < 0:
            return
        if _is_upgrade(bytes(self.buffer[:end])):
            self._hand_over(end + 4)
            return
        import h11  # loaded by the warm-up (warm.py), or here by the first plain request

        self.parser = h11.Connection(h11.SERVER, max_incomplete_event_size=MAX_HEAD_BYTES)
        self.parser.receive_data(bytes(self.buffer))
        self.buffer.clear()
        self._read_message()

    def _read_message(self) -> None:
        import h11

        parser = self.parser
        assert parser is not None
        while self.answering is None and not self.closed:
            try:
                event = parser.next_event()
            except h11.RemoteProtocolError as exc:
                self._refuse(exc.error_status_hint, f"Malformed HTTP request: {exc}.")
                return
            if event is h11.NEED_DATA or event is h11.PAUSED:
                return
            if isinstance(event, h11.Request):
                if event.http_version not in (b"1.0", b"1.1"):
                    self._refuse(505, "Only HTTP/1.0 and HTTP/1.1 are served here.")
                    return
                self.request = event
                length = _content_length(event)
                if length is not None and length > MAX_BODY_BYTES:
                    self._refuse(413, _too_large())
                    return
            elif isinstance(event, h11.Data):
                self.body += event.data
                if len(self.body) > MAX_BODY_BYTES:
                    self._refuse(413, _too_large())
                    return
            elif isinstance(event, h11.EndOfMessage):
                self._answer()
                return
            elif isinstance(event, h11.ConnectionClosed):
                self.close()
                return

    def _hand_over(self, head: int) -> None:
        """Give the connection, and what it sent so far (the request's ``head`` bytes, and any
        after them), to websockets."""
        assert self.transport is not None
        if self.timer is not None:
            self.timer.cancel()
        self.front.plain.discard(self)
        connection = self.front.upgrade()
        self.transport.set_protocol(connection)
        connection.connection_made(self.transport)
        connection.data_received(bytes(self.buffer[:head]))
        if isinstance(connection, BatchConnection):
            # Its frames are split from the first byte after the head (see framing.py).
            connection.framing = True
        if len(self.buffer) > head:
            connection.data_received(bytes(self.buffer[head:]))
        self.buffer.clear()

    # ---- answering -------------------------------------------------------------------------

    def _answer(self) -> None:
        assert self.transport is not None and self.request is not None
        self.transport.pause_reading()
        if self.timer is not None:
            self.timer.cancel()
        request, body = self.request, bytes(self.body)
        peer = self.transport.get_extra_info("peername")
        http_request = HttpRequest(
            request.method.decode("ascii", "replace"),
            request.target.decode("ascii", "replace"),
            Headers([(k.decode("latin-1"), v.decode("latin-1")) for k, v in request.headers]),
            body,
            peer=str(peer[0]) if peer else None,
            secure=self.transport.get_extra_info("sslcontext") is not None,
        )
        self.answering = asyncio.ensure_future(self._respond(http_request))

    async def _respond(self, request: HttpRequest) -> None:
        try:
            response = await self.front.answer(request)
        except Exception:
            log.exception("realtime-mock: the answer to %s %s failed", request.method, request.path)
            response = openai_error(
                500, "realtime-mock failed to answer this request.", type_="server_error"
            )
        if self.closed:
            return
        keep_alive = self._keeps_alive()
        self._write(response, head_only=request.method == "HEAD", keep_alive=keep_alive)
        if not keep_alive:
            self.close()
            return
        assert self.parser is not None and self.transport is not None
        leftover, _ = self.parser.trailing_data
        self.parser, self.request, self.answering = None, None, None
        self.body = bytearray()
        self.buffer = bytearray(leftover)
        self._arm_timer()
        self.transport.resume_reading()
        if self.buffer:
            self._read_head()

    def _keeps_alive(self) -> bool:
        import h11

        assert self.parser is not None and self.request is not None
        if self.eof or self.parser.their_state is not h11.DONE:
            return False
        if self.request.http_version != b"1.1":
            return False
        connection = [v.lower() for k, v in self.request.headers if k == b"connection"]
        return not any(b"close" in v for v in connection)

    def _write(self, response: Response, *, head_only: bool = False, keep_alive: bool) -> None:
        assert self.transport is not None
        headers = Headers(response.headers)
        headers.setdefault("Server", self.front.options.server_header)
        headers.setdefault("Content-Length", str(len(response.body)))
        if not keep_alive:
            headers["Connection"] = "close"
        body = b"" if head_only else response.body
        self.transport.write(
            Response(response.status_code, response.reason_phrase, headers, body).serialize()
        )

    def _refuse(self, status: int, message: str) -> None:
        """Answer a request that cannot be read with ``status``, and close."""
        if self.transport is not None and not self.closed:
            self._write(openai_error(status, message), keep_alive=False)
        self.close()

    def close(self) -> None:
        if self.transport is not None and not self.closed:
            self.closed = True
            self.transport.close()
        self.front.plain.discard(self)
        answering = self.answering
        # (an answer that closes its connection does not cancel itself)
        if answering is not None and answering is not asyncio.current_task():
            answering.cancel()


def _is_upgrade(head: bytes) -> bool:
    """Whether a request head asks for a WebSocket (``Upgrade: websocket``), read as
    websockets reads it (the header's value holds the word, any case)."""
    for line in head.split(b"\r\n")[1:]:
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"upgrade" and b"websocket" in value.lower():
            return True
    return False


def _content_length(request: h11.Request) -> int | None:
    for name, value in request.headers:
        if name == b"content-length":
            return int(value)  # h11 has checked it is a number
    return None


def _too_large() -> str:
    return f"The request body is larger than the mock reads ({MAX_BODY_BYTES} bytes)."
