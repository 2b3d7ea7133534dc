"""The listener(s), the mounts and the HTTP side; the connections' frames go elsewhere.

A connection's life: :meth:`MockServer._process_request` answers the health check, asks
:func:`~mock_server.server.handshake.decide` what to do with a handshake (between its two
halves it counts the attempt on the mount and sleeps the mount's handshake delay), and either
refuses with the HTTP response the decision carries, or registers the connection to accept
(opening the upstream first for a relayed one). :meth:`MockServer._handle` then runs it with
:func:`~mock_server.server.connection.serve_connection`. Refusals are real HTTP responses with
an OpenAI-shaped JSON body, so SDKs raise the same errors they raise against the live service.

One server can serve many mounts (scenario configurations) under URL prefixes
(``/<prefix>/v1/realtime``), and listen on a ws and a wss port at once; every URL it hands out
comes from :meth:`MockServer.url_for`.
"""

from __future__ import annotations

import asyncio
import logging
import ssl
import tempfile
import weakref
from collections.abc import Callable, Coroutine, Sequence
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from websockets.asyncio.server import ServerConnection
from websockets.http11 import Request, Response
from websockets.typing import Subprotocol

from mock_server.protocol.http import HttpRequest, json_response, openai_error
from mock_server.server.connection import Connection, LiveCall, open_relay, serve_connection
from mock_server.server.ephemeral import EphemeralKeys
from mock_server.server.framing import BatchConnection
from mock_server.server.front import Front, WebSocketOptions, listen
from mock_server.server.handshake import Accept, Refuse, decide, select, select_subprotocol
from mock_server.server.handshake import Relay as RelayDecision
from mock_server.server.logs import WEBSOCKETS_LOG
from mock_server.server.mount import Mount, MountTraffic
from mock_server.server.rest import answer as answer_http
from mock_server.server.routes import HttpRoutes
from mock_server.server.session_count import SessionCount
from mock_server.server.shared_state import Worker, traffic_for
from mock_server.server.tls import local_tls_context
from mock_server.server.warm import finished, warming

log = logging.getLogger("realtime_mock")

# 15 MiB of audio per append, base64-encoded (x4/3), plus room for the JSON around it.
MAX_FRAME_BYTES = 21 * 1024 * 1024
# What one connection may buffer, so that a client that stops reading cannot grow the server's
# memory: outgoing, a send waits while more than WRITE_LIMIT bytes are queued for the socket
# (the session then produces nothing more until the client reads); incoming, reading from the
# socket pauses once MAX_QUEUE frames wait for the session. Besides these, a connection holds
# the events of its current response, whose size the scenario (or the responder) decides.
WRITE_LIMIT = 64 * 1024
MAX_QUEUE = 16
# How long a client's opening handshake may take (websockets' default, made explicit): a
# relayed connection's upstream is opened within it (see relay.Upstream.open_timeout).
HANDSHAKE_TIMEOUT = 10.0
# The path of each scheme's URL when none is given: the WebSocket endpoint, or the SDKs' base.
_DEFAULT_PATHS = {"ws": "/v1/realtime", "wss": "/v1/realtime", "http": "/v1", "https": "/v1"}
_SECURE = {"wss", "https"}


class MockServer:
    """The realtime-mock server; use as an async context manager::

    async with MockServer(port=0, default_mount=Mount(pace=0.0)) as server:
        client = AsyncOpenAI(api_key="sk-test", base_url=server.base_url)
    """

    def __init__(
        self,
        *,
        host: str = "127.0.0.1",
        port: int = 8765,
        tls: bool = False,
        tls_port: int | None = None,
        default_mount: Mount | None = None,
        max_sessions: int | None = None,
        on_connection_end: Callable[[Connection], None] | None = None,
        keep_ended: int | None = None,
        worker: Worker | None = None,
    ) -> None:
        self.host = host
        self.worker = worker  # one of several on one port: its socket, the shared counts
        self.max_sessions = max_sessions
        # Called with each connection once it has ended (also those that stop() closes).
        self.on_connection_end = on_connection_end
        # Ended connections kept in `connections`: None, all (tests read them); serve: none.
        self.keep_ended = keep_ended
        self.port = port
        self.tls = tls
        self.tls_port = tls_port
        self.mounts: dict[str, Mount] = {"": default_mount or Mount()}
        self.connections: list[Connection] = []
        self.ca_path: Path | None = None
        self._servers: list[Front] = []
        # Accepted handshakes, until their handler starts: the connection, and the traffic of
        # the mount it counts against (the mount may be replaced meanwhile).
        self._pending: weakref.WeakKeyDictionary[
            ServerConnection, tuple[Connection, MountTraffic]
        ] = weakref.WeakKeyDictionary()
        self._traffic: dict[str, tuple[Mount, MountTraffic]] = {}
        self._tls_dir: tempfile.TemporaryDirectory[str] | None = None
        self._handlers: set[asyncio.Task[None]] = set()
        self._sessions = SessionCount(worker)
        # Plain HTTP routes by path prefix (the control API).
        self.http_routes = HttpRoutes()
        # The ephemeral keys this server issued (POST /v1/realtime/client_secrets).
        self.ephemeral_keys = EphemeralKeys()
        # Live WebRTC calls by id (mock_server/webrtc/), which a sideband WebSocket joins.
        self.calls: dict[str, LiveCall] = {}
        self._warming: asyncio.Future[None] | None = None

    # ---- life cycle ------------------------------------------------------------------------

    async def start(self) -> None:
        self._warming = warming()  # what sessions need, built in a thread meanwhile
        front = self._front_options()
        sock = self.worker.sock if self.worker else None  # one of several: the shared socket
        plain = await listen(
            Front(self._handle, self._answer_http, front), self.host, self.port, sock=sock
        )
        self._servers.append(plain)
        self.port = plain.sockets[0].getsockname()[1]
        if self.tls:
            context = self._make_tls_context()
            secure = await listen(
                Front(self._handle, self._answer_http, front),
                self.host,
                self.tls_port or 0,
                ssl=context,
            )
            self._servers.append(secure)
            self.tls_port = secure.sockets[0].getsockname()[1]

    def _front_options(self) -> WebSocketOptions:
        return WebSocketOptions(
            process_request=self._process_request,
            select_subprotocol=self._select_subprotocol,
            max_size=MAX_FRAME_BYTES,
            write_limit=WRITE_LIMIT,
            max_queue=MAX_QUEUE,
            open_timeout=HANDSHAKE_TIMEOUT,
            server_header="realtime-mock",
            logger=WEBSOCKETS_LOG,
            connection_class=BatchConnection,  # its fast paths for reading and writing frames
            process_response=self.worker.name_response if self.worker else None,
        )

    async def _answer_http(self, request: HttpRequest) -> Response:
        return await answer_http(self, request)

    async def ready(self) -> None:  # what sessions need is built (start() returns before)
        if self._warming is not None:
            await asyncio.shield(self._warming)

    async def stop(self) -> None:
        """Close every connection with 1001 (going away) and stop listening."""
        for server in self._servers:
            server.close()
        for call in list(self.calls.values()):
            await call.end(1001, "server stopping")
        for server in self._servers:
            await server.wait_closed()
        if self._handlers:
            await asyncio.wait(self._handlers, timeout=5)
        self._servers.clear()
        await finished(self._warming)  # a warm-up cut short at exit can abort the process
        if self._tls_dir is not None:
            self._tls_dir.cleanup()
            self._tls_dir = None

    async def __aenter__(self) -> MockServer:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    def _make_tls_context(self) -> ssl.SSLContext:
        context, self._tls_dir, self.ca_path = local_tls_context()
        return context

    # ---- addresses -------------------------------------------------------------------------

    def _host_for_url(self) -> str:
        host = "127.0.0.1" if self.host in ("0.0.0.0", "") else self.host
        return f"[{host}]" if ":" in host else host

    def url_for(self, prefix: str = "", *, scheme: str = "ws", path: str | None = None) -> str:
        """The URL of mount ``prefix`` in ``scheme`` (ws, wss, http, https): the WebSocket
        endpoint for ws/wss, the SDKs' ``base_url`` for http/https, unless ``path`` says.

        wss and https are served on the TLS port, and only with ``tls=True``.
        """
        if scheme not in _DEFAULT_PATHS:
            raise ValueError(f"unknown scheme {scheme!r}: one of {', '.join(_DEFAULT_PATHS)}")
        port = self.tls_port if scheme in _SECURE else self.port
        if port is None:
            raise ValueError(f"no {scheme}:// URL: this server was started without tls=True")
        where = _DEFAULT_PATHS[scheme] if path is None else path
        return f"{scheme}://{self._host_for_url()}:{port}{prefix.rstrip('/')}{where}"

    @property
    def ws_url(self) -> str:
        return self.url_for()

    @property
    def wss_url(self) -> str | None:
        return None if self.tls_port is None else self.url_for(scheme="wss")

    @property
    def base_url(self) -> str:
        """What to hand an SDK as ``base_url`` / ``OPENAI_BASE_URL``."""
        return self.url_for(scheme="http")

    @property
    def https_base_url(self) -> str | None:
        return None if self.tls_port is None else self.url_for(scheme="https")

    # ---- mounts ----------------------------------------------------------------------------

    def mount(self, mount: Mount) -> Mount:
        """Serve ``mount`` under its prefix (replacing any mount there)."""
        self.mounts[mount.prefix.rstrip("/")] = mount
        return mount

    def unmount(self, prefix: str) -> None:
        self.mounts.pop(prefix.rstrip("/"), None)

    def traffic(self, mount: Mount | str = "") -> MountTraffic:
        """What this server counted on ``mount`` (or the mount at that prefix): handshake
        attempts and accepted connections, from zero when it was mounted."""
        prefix = mount if isinstance(mount, str) else mount.prefix
        prefix = prefix.rstrip("/")
        served = self.mounts.get(prefix)
        if served is None or (isinstance(mount, Mount) and served is not mount):
            raise KeyError(f"no such mount on this server: {prefix or '(the default mount)'!r}")
        return self._traffic_of(prefix, served)

    def _traffic_of(self, prefix: str, mount: Mount) -> MountTraffic:
        counted = self._traffic.get(prefix)
        if counted is None or counted[0] is not mount:  # a mount new at this prefix
            counted = self._traffic[prefix] = (mount, traffic_for(self.worker, prefix))
        return counted[1]

    # ---- handshake -------------------------------------------------------------------------

    def _select_subprotocol(
        self, connection: ServerConnection, subprotocols: Sequence[Subprotocol]
    ) -> Subprotocol | None:
        pending = self._pending.get(connection)
        if pending is not None:
            return pending[0].subprotocol
        return select_subprotocol(list(subprotocols))

    async def _process_request(
        self, connection: ServerConnection, request: Request
    ) -> Response | None:
        if _is_health_check(request.path):
            return json_response(200, {"status": "ok", "mounts": sorted(self.mounts)})
        admitted = await self.admit(request)
        if isinstance(admitted, Response):
            return admitted
        decision, traffic = admitted
        if isinstance(decision, RelayDecision):
            opened = await open_relay(connection, request, decision)
            if isinstance(opened, Response):
                return opened
            self._pending[connection] = (opened, traffic)
            # Should the handshake with the client fail from here on, no handler runs the
            # relay: its upstream is closed when the client's connection ends.
            connection.connection_lost_waiter.add_done_callback(
                lambda _: self._abandon_relay(connection)
            )
            return None
        call_id = decision.handshake.query.get("call_id")
        if call_id is not None and call_id not in self.calls:
            return openai_error(
                404,
                f"No live call {call_id[:64]!r} to join: a sideband connects with the id from "
                "the Location header of POST /v1/realtime/calls, while that call is up.",
                code="call_not_found",
            )
        self._pending[connection] = (Connection.accepted(decision, call_id), traffic)
        return None

    async def admit(
        self, request: Request
    ) -> Response | tuple[Accept | RelayDecision, MountTraffic]:
        """The mount's policy applied to a handshake (a WebSocket's, or a WebRTC offer's read
        as one): the refusal, or the decision with the mount's traffic (the attempt counted,
        the mount's handshake delay slept)."""
        target = select(request, self.mounts, origin=self.url_for(path=""))
        if isinstance(target, Refuse):
            return target.response
        traffic = self._traffic_of(target.prefix, target.mount)
        attempt = traffic.count_attempt()
        if target.mount.handshake_delay is not None:
            delay = target.mount.handshake_delay(attempt)
            if delay > 0:
                await asyncio.sleep(delay)
        decision = decide(
            request,
            target,
            attempt=attempt,
            open_sessions=self.open_sessions,
            max_sessions=self.max_sessions,
            ephemeral=self.ephemeral_keys,
        )
        if isinstance(decision, Refuse):
            return decision.response
        return decision, traffic

    def _abandon_relay(self, connection: ServerConnection) -> None:
        pending = self._pending.pop(connection, None)  # the handler pops it when it starts
        if pending is not None and pending[0].relay is not None:
            log.info("realtime-mock: relay abandoned: the client's handshake did not complete")
            closing = asyncio.ensure_future(pending[0].relay.abandon())
            self._handlers.add(closing)  # stop() waits for it too
            closing.add_done_callback(self._handlers.discard)

    # ---- one connection --------------------------------------------------------------------

    async def _handle(self, ws: ServerConnection) -> None:
        pending = self._pending.pop(ws, None)
        if pending is None:  # pragma: no cover - process_request always registers it
            await ws.close(1011, "realtime-mock: no handshake state")
            return
        conn, traffic = pending
        call = self.calls.get(conn.call_id) if conn.call_id is not None else None
        if conn.call_id is not None and call is None:  # the call ended during the handshake
            await ws.close(1000, "the call has ended")
            return
        if call is not None:
            await self.run_connection(conn, traffic, call.join(ws, conn))
        else:
            await self.run_connection(conn, traffic, serve_connection(ws, conn))

    async def run_connection(
        self, conn: Connection, traffic: MountTraffic, serving: Coroutine[Any, Any, None]
    ) -> None:
        """Run an accepted connection (``serving``) as one of this server's: numbered on its
        mount, listed, counted among the open sessions, waited for by :meth:`stop`."""
        task = asyncio.current_task()
        assert task is not None
        self._handlers.add(task)
        conn.number = traffic.count_accepted()
        self.connections.append(conn)
        await self._sessions.add(+1)
        loop = asyncio.get_running_loop()
        conn.opened_at = loop.time()
        try:
            await self.ready()
            await serving
        finally:
            conn.closed_at = loop.time()
            if conn.close_code is None and conn.transcript.closed is not None:
                conn.close_code = conn.transcript.closed[0]
            if self.on_connection_end is not None:
                try:
                    self.on_connection_end(conn)
                except Exception:  # a failing observer must not break the server
                    log.exception("realtime-mock: on_connection_end failed")
            conn.ended = True
            self._forget_ended()
            await self._sessions.add(-1)
            self._handlers.discard(task)

    def _forget_ended(self) -> None:
        if self.keep_ended is None:
            return
        ended = [c for c in self.connections if c.ended]
        for conn in ended[: max(0, len(ended) - self.keep_ended)]:
            self.connections.remove(conn)

    @property
    def open_sessions(self) -> int:
        """How many sessions are connected right now (in every worker, for one of several)."""
        return self._sessions.value

    async def wait_for_sessions(self, at_most: int, timeout: float = 10.0) -> None:
        """Wait until no more than ``at_most`` sessions are open (their handlers have ended)."""
        await self._sessions.wait(at_most, timeout)


def _is_health_check(path: str) -> bool:
    try:
        return urlsplit(path).path.rstrip("/") == "/healthz"
    except ValueError:  # not a URL at all: handshake.select says so
        return False
