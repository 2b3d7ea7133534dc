"""The websockets server: handshake policy, TLS, mounts and the HTTP side; it only moves frames.

A connection's life: :meth:`MockServer._process_request` decides at the HTTP level (health
check, unknown path -> 404, missing or wrong key -> 401, plain HTTP on the realtime path -> a
helpful 426) and picks the mount and dialect; then :meth:`MockServer._handle` feeds the
:class:`~mock_server.session.Session` with client frames and sends what it returns, at the time
it says. Refusals are real HTTP responses with an OpenAI-shaped JSON body, so SDKs raise the
same errors they raise against the live service.

One server can serve many mounts (scenario configurations) under URL prefixes
(``/<prefix>/v1/realtime``), and listen on a ws and a wss port at once.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import gc
import json
import logging
import re
import ssl
import tempfile
import threading
import weakref
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal
from urllib.parse import parse_qsl, urlsplit

from websockets.asyncio.server import Server, ServerConnection, serve
from websockets.datastructures import Headers
from websockets.exceptions import ConnectionClosed, InvalidHandshake
from websockets.http11 import Request, Response
from websockets.protocol import State
from websockets.typing import Subprotocol

from mock_server.protocol.events import Dialect
from mock_server.protocol.http import (
    asks_for_beta,
    json_response,
    mask_key,
    offered_subprotocols,
    openai_error,
    presented_key,
    split_realtime_path,
    subprotocol_problem,
)
from mock_server.protocol.limits import MAX_SESSION_DURATION_S
from mock_server.redaction import redact_headers, redact_text
from mock_server.responder import Responder
from mock_server.session import (
    Close,
    Drop,
    RawFrame,
    Script,
    ServerEvent,
    Session,
    SessionOptions,
)
from mock_server.transcript import Handshake, Transcript

if TYPE_CHECKING:
    from mock_server.proxy import Relay, Upstream

log = logging.getLogger("realtime_mock")
# A frame whose handling took longer than this makes its session wait as long before its next
# frame (see MockServer._run): a client's burst of costly frames never runs back to back.
YIELD_AFTER_S = 0.002

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
# relayed connection's upstream is opened within it (see proxy.Upstream.open_timeout).
HANDSHAKE_TIMEOUT = 10.0
# Models the live service knows; anything else is refused with `missing_model` (close 4000).
KNOWN_MODELS = re.compile(r"^(gpt-realtime|gpt-4o(-mini)?-realtime|gpt-audio|gpt-4o(-mini)?-audio)")
BETA_RETIRED_MESSAGE = (
    "The Realtime Beta API is no longer supported. Please use /v1/realtime for the GA API."
)

BetaPolicy = Literal["served", "retired"]


@dataclass
class Mount:
    """How the connections under one URL prefix behave."""

    prefix: str = ""
    dialect: Literal["auto", "ga", "beta"] = "auto"
    beta: BetaPolicy = "served"
    api_keys: frozenset[str] = frozenset()
    any_model: bool = False
    pace: float = 1.0
    seed: int | str | None = None
    max_duration_s: float | None = MAX_SESSION_DURATION_S
    # Close a connection (1001) after this long without a client frame while no response
    # streams; None keeps idle connections open, as the live service does until max_duration.
    close_idle_after_s: float | None = None
    # Virtual seconds per real second for everything the session times (the maximum duration,
    # idle timeouts, pacing, a scenario's waits): 3600 runs a 60-minute limit in a second.
    time_scale: float = 1.0
    session_overrides: dict[str, Any] = field(default_factory=dict)
    responder_factory: Callable[[], Responder] | None = None
    # Decides each handshake before the key check: given the attempt's number (1, 2, ...) and
    # the request, it may refuse (e.g. 429 then success, to test a client's backoff).
    handshake_policy: Callable[[int, Request], Response | None] | None = None
    # Seconds to wait before answering attempt N (a slow service).
    handshake_delay: Callable[[int], float] | None = None
    attempts: int = 0
    # Accepted connections so far: each one's number counts from 1 per mount, so that a
    # scenario's findings say "connection 1" whatever else the shared server has served.
    accepted: int = 0
    # A new script (the scenario runner) per connection; it gets the connection's number.
    script_factory: Callable[[int], Script] | None = None
    transcriber: Callable[[bytes], str | None] | None = None
    # Relay connections to a live Realtime endpoint instead of emulating (mock_server.proxy).
    upstream: Upstream | None = None


@dataclass
class Connection:
    """One accepted connection: its handshake decision, its session and its transcript."""

    mount: Mount
    dialect: Dialect
    model: str
    intent: str | None
    api_key: str | None
    transcript: Transcript
    session: Session | None = None
    refusal: tuple[str, str] | None = None  # (code, message) of an in-band refusal
    number: int = 0
    ended: bool = False
    relay: Relay | None = None  # a pass-through connection (no session of ours)


class _HandshakeLog(logging.Filter):
    """Keeps websockets' log of the mock's connections to one key-free line per failure.

    websockets logs a failed opening handshake (a malformed request, a client gone before the
    answer) as a traceback whose exception may quote a header, the browser's key subprotocol
    included; a refused one as "connection rejected (401 Unauthorized)", which does not say
    why. Each becomes one line naming what happened; every line is redacted, and headers are
    too when debug logging prints them.
    """

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            return self._rewrite(record)
        except Exception:  # a log line must never break a connection: keep it, minus its args
            record.msg, record.args = redact_text(str(record.msg)), ()
            record.exc_info, record.exc_text = None, None
            return True

    def _rewrite(self, record: logging.LogRecord) -> bool:
        connection = getattr(record, "websocket", None)
        lost = record.msg == "unexpected internal error" and _handshake_lost(connection)
        if record.exc_info and lost:
            # websockets' assertion when it answers a client already gone: the "handshake
            # failed" line that follows says it.
            return False
        if record.exc_info and record.msg != "connection handler failed":
            exc = record.exc_info[1]
            what = "handshake failed" if record.msg == "opening handshake failed" else record.msg
            record.msg, record.args = (
                f"realtime-mock: {what}%s: %s",
                (
                    _peer(connection),
                    _what_failed(exc),
                ),
            )
            record.exc_info, record.exc_text = None, None
            record.levelno, record.levelname = logging.WARNING, "WARNING"
        elif record.msg == "connection rejected (%d %s)" and connection is not None:
            response = getattr(connection, "response", None)
            why = _refusal_reason(response) if isinstance(response, Response) else ""
            record.msg = "realtime-mock: handshake refused%s: %d %s%s"
            record.args = (_peer(connection), *tuple(record.args or ()), why)
        elif record.msg in ("< %s: %s", "> %s: %s") and isinstance(record.args, tuple):
            name, value = (str(a) for a in record.args)
            record.args = redact_headers([(name, value)])[0]
        elif record.args:
            record.msg, record.args = redact_text(record.getMessage()), ()
        return True


def _handshake_lost(connection: object) -> bool:
    protocol = getattr(connection, "protocol", None)
    return protocol is not None and getattr(protocol, "state", None) is State.CLOSED


def _peer(connection: object) -> str:
    """`` from 127.0.0.1:5555 (GET /v1/realtime)``: who, and which path (no query: keys)."""
    if connection is None:
        return ""
    try:
        address = connection.remote_address  # type: ignore[attr-defined]
        where = f" from {address[0]}:{address[1]}" if address else ""
    except Exception:  # a transport already gone has no address
        where = ""
    request = getattr(connection, "request", None)
    if isinstance(request, Request):
        where += f" (GET {redact_text(request.path.split('?', 1)[0])[:200]})"
    return where


def _what_failed(exc: BaseException | None) -> str:
    """An exception, its causes, and where it was raised, as one redacted line."""
    if exc is None:
        return "unknown error"
    if isinstance(exc, ConnectionClosed | EOFError):
        return "the client left before the handshake was answered"
    parts: list[str] = []
    seen: BaseException | None = exc
    while seen is not None and len(parts) < 4:
        parts.append(f"{type(seen).__name__}: {seen}" if str(seen) else type(seen).__name__)
        seen = seen.__cause__
    tb = exc.__traceback__
    while tb is not None and tb.tb_next is not None:
        tb = tb.tb_next
    if tb is not None and not isinstance(exc, InvalidHandshake):  # a bug: say where
        parts.append(f"at {Path(tb.tb_frame.f_code.co_filename).name}:{tb.tb_lineno}")
    return redact_text("; ".join(parts))[:500]


def _refusal_reason(response: Response) -> str:
    try:
        error = json.loads(response.body or b"").get("error") or {}
        code, message = error.get("code"), str(error.get("message") or "")
    except (ValueError, AttributeError):
        return ""
    return redact_text(f" ({code}) {message}" if code else f" {message}")[:300]


# websockets' records of the mock's connections go through this logger (and its filter); they
# propagate to websockets' usual name, so configuring logging works as websockets documents.
_WEBSOCKETS_LOG = logging.getLogger("websockets.server.realtime_mock")
_WEBSOCKETS_LOG.addFilter(_HandshakeLog())


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
    ) -> None:
        self.host = host
        self.max_sessions = max_sessions
        # Called with each connection once it has ended (also those that stop() closes).
        self.on_connection_end = on_connection_end
        # How many ended connections (with their transcripts) stay in `connections`: None keeps
        # them all (tests read them); a long-running `serve` keeps none, or memory would grow
        # with every session it ever served.
        self.keep_ended = keep_ended
        self.port = port
        self.tls = tls
        self.tls_port = tls_port
        self.mounts: dict[str, Mount] = {"": default_mount or Mount()}
        self.connections: list[Connection] = []
        self.ca_path: Path | None = None
        self._servers: list[Server] = []
        self._pending: weakref.WeakKeyDictionary[ServerConnection, Connection] = (
            weakref.WeakKeyDictionary()
        )
        self._tls_dir: tempfile.TemporaryDirectory[str] | None = None
        self._handlers: set[asyncio.Task[None]] = set()
        self._open_sessions = 0
        self._sessions_changed: asyncio.Condition | None = None

    # ---- life cycle ------------------------------------------------------------------------

    async def start(self) -> None:
        # What every session needs, built once per process before the first connection is
        # accepted, in a worker thread: built by a first session instead, it stalled the loop
        # (and every other session) for over a second. A second server in a process skips it.
        await asyncio.get_running_loop().run_in_executor(None, warm_up)
        common: dict[str, Any] = {
            "process_request": self._process_request,
            "select_subprotocol": self._select_subprotocol,
            "max_size": MAX_FRAME_BYTES,
            "write_limit": WRITE_LIMIT,
            "max_queue": MAX_QUEUE,
            "open_timeout": HANDSHAKE_TIMEOUT,
            "compression": None,
            "server_header": "realtime-mock",
            "ping_interval": None,
            "logger": _WEBSOCKETS_LOG,
        }
        plain = await serve(self._handle, self.host, self.port, **common)
        self._servers.append(plain)
        self.port = next(iter(plain.sockets)).getsockname()[1]
        if self.tls:
            context = self._make_tls_context()
            secure = await serve(self._handle, self.host, self.tls_port or 0, ssl=context, **common)
            self._servers.append(secure)
            self.tls_port = next(iter(secure.sockets)).getsockname()[1]

    async def stop(self) -> None:
        """Close every connection with 1001 (going away) and stop listening."""
        for server in self._servers:
            server.close(close_connections=True)
        for server in self._servers:
            await server.wait_closed()
        if self._handlers:
            await asyncio.wait(self._handlers, timeout=5)
        self._servers.clear()
        if self._tls_dir is not None:
            self._tls_dir.cleanup()
            self._tls_dir = None

    async def __aenter__(self) -> MockServer:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    async def serve_forever(self) -> None:
        await asyncio.gather(*(s.serve_forever() for s in self._servers))

    def _make_tls_context(self) -> ssl.SSLContext:
        import trustme

        ca = trustme.CA()
        cert = ca.issue_cert("127.0.0.1", "localhost", "::1")
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        cert.configure_cert(context)
        self._tls_dir = tempfile.TemporaryDirectory(prefix="realtime-mock-tls-")
        self.ca_path = Path(self._tls_dir.name) / "ca.pem"
        ca.cert_pem.write_to_path(str(self.ca_path))
        return context

    # ---- addresses -------------------------------------------------------------------------

    def _host_for_url(self) -> str:
        host = "127.0.0.1" if self.host in ("0.0.0.0", "") else self.host
        return f"[{host}]" if ":" in host else host

    @property
    def ws_url(self) -> str:
        return f"ws://{self._host_for_url()}:{self.port}/v1/realtime"

    @property
    def wss_url(self) -> str | None:
        if self.tls_port is None:
            return None
        return f"wss://{self._host_for_url()}:{self.tls_port}/v1/realtime"

    @property
    def base_url(self) -> str:
        """What to hand an SDK as ``base_url`` / ``OPENAI_BASE_URL``."""
        return f"http://{self._host_for_url()}:{self.port}/v1"

    @property
    def https_base_url(self) -> str | None:
        if self.tls_port is None:
            return None
        return f"https://{self._host_for_url()}:{self.tls_port}/v1"

    def mount(self, mount: Mount) -> Mount:
        """Serve ``mount`` under its prefix (replacing any mount there)."""
        self.mounts[mount.prefix.rstrip("/")] = mount
        return mount

    def unmount(self, prefix: str) -> None:
        self.mounts.pop(prefix.rstrip("/"), None)

    # ---- handshake -------------------------------------------------------------------------

    @staticmethod
    def _select_subprotocol(
        connection: ServerConnection, subprotocols: Sequence[Subprotocol]
    ) -> Subprotocol | None:
        return Subprotocol("realtime") if "realtime" in subprotocols else None

    async def _process_request(
        self, connection: ServerConnection, request: Request
    ) -> Response | None:
        try:
            url = urlsplit(request.path)
        except ValueError:  # "//[" parses as an unclosed IPv6 host
            return openai_error(400, f"Invalid URL (GET {redact_text(request.path)[:200]})")
        query = dict(parse_qsl(url.query, keep_blank_values=True))
        if url.path.rstrip("/") == "/healthz":
            return json_response(200, {"status": "ok", "mounts": sorted(self.mounts)})
        where = split_realtime_path(url.path)
        if where is None or where[0] not in self.mounts:
            return openai_error(404, f"Invalid URL (GET {url.path})")
        prefix, suffix = where
        mount = self.mounts[prefix]
        headers = request.headers
        if "websocket" not in headers.get("Upgrade", "").lower():
            return openai_error(
                426,
                "This is the Realtime API's WebSocket endpoint: connect with a WebSocket client "
                f"to ws://{self._host_for_url()}:{self.port}{url.path}?model=gpt-realtime "
                "(the openai SDKs do this from base_url). Plain HTTP requests are not served here.",
                code="upgrade_required",
            )
        problem = subprotocol_problem(headers)
        if problem is not None:
            return openai_error(
                400,
                f"{problem}. Offer subprotocols as a comma-separated list of tokens (no spaces "
                "inside one, no '/', '(' or quotes), e.g. 'realtime, openai-beta.realtime-v1'.",
                code="invalid_subprotocol",
            )
        mount.attempts += 1
        if mount.handshake_delay is not None:
            delay = mount.handshake_delay(mount.attempts)
            if delay > 0:
                await asyncio.sleep(delay)
        if mount.handshake_policy is not None:
            policy_refusal = mount.handshake_policy(mount.attempts, request)
            if policy_refusal is not None:
                return policy_refusal
        upstream = mount.upstream
        if upstream is not None and (upstream.relays is None or upstream.relays()):
            return await self._relay(connection, request, upstream, mount, prefix)
        refusal = self._check_key(mount, headers, query)
        if refusal is not None:
            return refusal
        if self.max_sessions is not None and self._open_sessions >= self.max_sessions:
            return openai_error(
                503,
                f"realtime-mock is serving its maximum of {self.max_sessions} concurrent "
                "sessions (--max-sessions); retry when one has ended.",
                code="too_many_sessions",
                type_="server_error",
            )
        if suffix == "/openai/realtime" and "api-version" not in query:
            return openai_error(
                400,
                "Missing required query parameter 'api-version' (Azure OpenAI realtime URLs look "
                "like /openai/realtime?api-version=2025-04-01-preview&deployment=NAME).",
                code="missing_required_parameter",
                param="api-version",
            )
        if mount.dialect == "auto":
            dialect = Dialect.BETA if asks_for_beta(headers) else Dialect.GA
        else:
            dialect = Dialect(mount.dialect)
        model = query.get("model") or query.get("deployment") or ""
        api_key = presented_key(headers)
        transcript = _handshake_transcript(request, dialect, prefix)
        conn = Connection(
            mount=mount,
            dialect=dialect,
            model=model,
            intent=query.get("intent"),
            api_key=api_key,
            transcript=transcript,
        )
        conn.refusal = self._in_band_refusal(conn, suffix, query)
        if not model and conn.refusal is None:
            conn.model = "gpt-realtime"
        self._pending[connection] = conn
        return None

    async def _relay(
        self,
        connection: ServerConnection,
        request: Request,
        upstream: Upstream,
        mount: Mount,
        prefix: str,
    ) -> Response | None:
        """Open the pass-through upstream; its refusal, if any, is the client's answer."""
        dialect = Dialect.BETA if asks_for_beta(request.headers) else Dialect.GA
        transcript = _handshake_transcript(request, dialect, prefix)
        # A client may give up while the upstream is slow to answer; on the live API an upstream
        # session opened for nobody is billed and counts against the concurrency limit, so
        # opening it is abandoned (or it is closed) as soon as the client has gone.
        client_gone = connection.connection_lost_waiter
        opening = asyncio.ensure_future(upstream.open(request, dialect, transcript))
        try:
            either: set[asyncio.Future[Any]] = {opening, client_gone}
            await asyncio.wait(either, return_when=asyncio.FIRST_COMPLETED)
        finally:
            if not opening.done():
                opening.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await opening
        if opening.cancelled():
            log.info(
                "realtime-mock: relay abandoned: the client left while the upstream %s was opening",
                upstream.url,
            )
            return openai_error(502, "the client left during the upstream handshake")
        opened = opening.result()
        if isinstance(opened, Response):
            return opened
        assert transcript.handshake is not None
        self._pending[connection] = Connection(
            mount=mount,
            dialect=dialect,
            model=transcript.handshake.model or "",
            intent=None,
            api_key=None,
            transcript=transcript,
            relay=opened,
        )
        # Should the handshake with the client fail from here on, no handler runs the relay:
        # its upstream is closed when the client's connection ends.
        client_gone.add_done_callback(lambda _: self._abandon_relay(connection))
        return None

    def _abandon_relay(self, connection: ServerConnection) -> None:
        conn = self._pending.pop(connection, None)  # the handler pops it when it starts
        if conn is not None and conn.relay is not None:
            log.info("realtime-mock: relay abandoned: the client's handshake did not complete")
            closing = asyncio.ensure_future(conn.relay.abandon())
            self._handlers.add(closing)  # stop() waits for it too
            closing.add_done_callback(self._handlers.discard)

    def _check_key(self, mount: Mount, headers: Headers, query: dict[str, str]) -> Response | None:
        key = presented_key(headers)
        if key is None:
            if query.get("api_key") or query.get("api-key"):
                return openai_error(
                    401,
                    "You passed your API key as a query parameter (?api_key=...), which the "
                    "Realtime API does not read. Send it in a header: 'Authorization: Bearer "
                    "YOUR_KEY' (Azure: 'api-key: YOUR_KEY'), or in a browser as the WebSocket "
                    "subprotocol 'openai-insecure-api-key.YOUR_KEY'.",
                    code="missing_api_key",
                )
            return openai_error(
                401,
                "You didn't provide an API key. You need to provide your API key in an "
                "Authorization header using Bearer auth (i.e. Authorization: Bearer YOUR_KEY).",
                code="missing_api_key",
            )
        if mount.api_keys and key not in mount.api_keys:
            return openai_error(
                401,
                f"Incorrect API key provided: {mask_key(key)}. This mock accepts only the keys "
                "given with --api-key.",
                code="invalid_api_key",
            )
        return None

    def _in_band_refusal(
        self, conn: Connection, suffix: str, query: dict[str, str]
    ) -> tuple[str, str] | None:
        """Refusals the live service makes after the upgrade: an error event, then close 4000."""
        if conn.dialect is Dialect.BETA and conn.mount.beta == "retired":
            return "beta_api_shape_disabled", BETA_RETIRED_MESSAGE
        if suffix == "/openai/realtime" or conn.mount.any_model:
            return None
        if conn.dialect is Dialect.GA and (query.get("call_id") or conn.intent == "transcription"):
            return None
        if not conn.model:
            if conn.dialect is Dialect.BETA:
                return "missing_model", "You must provide a model parameter (?model=...)."
            return None
        if not KNOWN_MODELS.match(conn.model):
            return (
                "missing_model",
                f"The model '{conn.model}' does not exist or you do not have access to it. "
                "(realtime-mock: start it with --any-model to accept any model name.)",
            )
        return None

    # ---- one connection --------------------------------------------------------------------

    async def _handle(self, ws: ServerConnection) -> None:
        conn = self._pending.pop(ws, None)
        if conn is None:  # pragma: no cover - process_request always registers the connection
            await ws.close(1011, "realtime-mock: no handshake state")
            return
        task = asyncio.current_task()
        assert task is not None
        self._handlers.add(task)
        conn.mount.accepted += 1
        conn.number = conn.mount.accepted
        self.connections.append(conn)
        await self._count_session(+1)
        try:
            await self._run(ws, conn)
        finally:
            if self.on_connection_end is not None:
                try:
                    self.on_connection_end(conn)
                except Exception:  # a failing observer must not break the server
                    log.exception("realtime-mock: on_connection_end failed")
            conn.ended = True
            self._forget_ended()
            await self._count_session(-1)
            self._handlers.discard(task)

    def _forget_ended(self) -> None:
        if self.keep_ended is None:
            return
        ended = [c for c in self.connections if c.ended]
        for conn in ended[: max(0, len(ended) - self.keep_ended)]:
            self.connections.remove(conn)

    def _condition(self) -> asyncio.Condition:
        if self._sessions_changed is None:
            self._sessions_changed = asyncio.Condition()
        return self._sessions_changed

    async def _count_session(self, delta: int) -> None:
        async with self._condition():
            self._open_sessions += delta
            self._condition().notify_all()

    @property
    def open_sessions(self) -> int:
        """How many sessions are connected right now."""
        return self._open_sessions

    async def wait_for_sessions(self, at_most: int, timeout: float = 10.0) -> None:
        """Wait until no more than ``at_most`` sessions are open (their handlers have ended)."""
        async with self._condition():
            await asyncio.wait_for(
                self._condition().wait_for(lambda: self._open_sessions <= at_most), timeout
            )

    async def _run(self, ws: ServerConnection, conn: Connection) -> None:
        if conn.relay is not None:
            await conn.relay.run(ws)
            return
        loop = asyncio.get_running_loop()
        mount = conn.mount
        origin = loop.time()
        scale = mount.time_scale

        def clock() -> float:
            return origin + (loop.time() - origin) * scale

        session = Session(
            SessionOptions(
                dialect=conn.dialect,
                model=conn.model,
                seed=mount.seed,
                pace=mount.pace,
                intent=conn.intent,
                max_duration_s=mount.max_duration_s,
                close_idle_after_s=mount.close_idle_after_s,
                session_overrides=mount.session_overrides,
                transcriber=mount.transcriber or default_transcriber(),
            ),
            responder=mount.responder_factory() if mount.responder_factory else None,
            transcript=conn.transcript,
            script=mount.script_factory(conn.number) if mount.script_factory else None,
        )
        conn.session = session
        if conn.refusal is not None:
            session.refuse(*conn.refusal, now=clock())
        else:
            session.open(clock())
        current = asyncio.current_task()
        assert current is not None
        alarm = _Alarm(loop, current)
        try:
            while True:
                started = loop.time()
                outputs = session.due(clock())
                busy = loop.time() - started
                for output in outputs:
                    if ws.state is not State.OPEN:
                        # The client is closing: nothing more can reach it (a send would wait
                        # for the closing handshake), but the frames it sent before its close
                        # are still read below, so that none is lost.
                        break
                    if isinstance(output, ServerEvent):
                        await ws.send(output.text)
                    elif isinstance(output, Close):
                        conn.transcript.closed = (output.code, output.reason)
                        await ws.close(output.code, output.reason)
                        return
                    elif isinstance(output, Drop):
                        ws.transport.abort()
                        return
                    elif isinstance(output, RawFrame):
                        await ws.send(output.data)
                if busy > YIELD_AFTER_S:
                    # A costly turn of the clock (a whole reply due at once, at pace 0): the
                    # session waits as long before its next, as after a costly frame below.
                    await asyncio.sleep(min(busy, 1.0))
                deadline = session.next_deadline()
                if deadline is None:
                    alarm.clear()  # only a client frame can cause output now
                elif deadline != alarm.deadline:
                    alarm.set(deadline, loop.time() + max(0.0, (deadline - clock()) / scale))
                alarm.waiting = True
                try:
                    frame = await ws.recv()
                except asyncio.CancelledError:
                    if alarm.woke():
                        continue
                    raise  # cancelled by someone else: the server is stopping
                finally:
                    alarm.waiting = False
                started = loop.time()
                session.receive(frame, clock())
                spent = loop.time() - started
                if spent > YIELD_AFTER_S:
                    # recv() hands over a queued frame without yielding, and one loop turn per
                    # costly frame is not enough for the others (a /healthz answer takes a few
                    # turns): a session that just took the loop for a while waits as long
                    # before its next frame, so no client holds more than half of it.
                    await asyncio.sleep(min(spent, 1.0))
        except ConnectionClosed as closed:
            if conn.transcript.closed is None:
                rcvd = closed.rcvd
                conn.transcript.closed = (
                    (rcvd.code, rcvd.reason) if rcvd is not None else (1006, "connection lost")
                )
        finally:
            if conn.transcript.closed is None and ws.close_code is not None:
                conn.transcript.closed = (ws.close_code, ws.close_reason or "")
            alarm.clear()
            session.abandon()


def _handshake_transcript(request: Request, dialect: Dialect, prefix: str) -> Transcript:
    """A connection's transcript, opened with its handshake (secrets already removed)."""
    url = urlsplit(request.path)
    query = dict(parse_qsl(url.query, keep_blank_values=True))
    transcript = Transcript()
    transcript.handshake = Handshake.redacted(
        path=url.path,
        query=query,
        headers=list(request.headers.raw_items()),
        subprotocols=offered_subprotocols(request.headers),
        dialect=dialect.value,
        model=query.get("model") or query.get("deployment") or None,
        mount=prefix,
    )
    return transcript


class _Alarm:
    """Interrupts a connection's wait for a client frame when the session's deadline comes.

    ``asyncio.timeout`` around every ``recv()`` would make and cancel a timer for every frame,
    the server's most frequent operation (a client streams 50 appends a second); the deadline
    seldom changes (the session's expiry, the next paced response event), so one timer stays
    armed until it does. It cancels the task only while it waits in ``recv()`` (``waiting``):
    cancelling ``recv()`` loses no frame (websockets guarantees it), and a frame already queued
    is returned without waiting, so a ring while the connection is busy changes nothing but
    that the loop looks at the session again.
    """

    def __init__(self, loop: asyncio.AbstractEventLoop, task: asyncio.Task[Any]) -> None:
        self.loop = loop
        self.task = task
        self.deadline: float | None = None  # in session time, to compare with the next one
        self.waiting = False
        self._timer: asyncio.TimerHandle | None = None
        self._rang = False

    def set(self, deadline: float, at_loop_time: float) -> None:
        self.clear()
        self.deadline = deadline
        self._timer = self.loop.call_at(at_loop_time, self._ring)

    def clear(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
        self._timer = None
        self.deadline = None

    def _ring(self) -> None:
        self._timer = None
        self.deadline = None  # rung: the next deadline, even the same, needs a new timer
        if self.waiting:
            self._rang = True
            self.task.cancel()

    def woke(self) -> bool:
        """Whether the cancellation just caught was the alarm's alone (then it is undone)."""
        rang, self._rang = self._rang, False
        return rang and self.task.uncancel() == 0


@functools.cache
def warm_up() -> None:
    """Build what a session needs once per process, so that the first session does not build
    it on the event loop (over a second of pydantic schemas, stalling every other session).
    Runs in a worker thread; a failure is logged, and the sessions then build it lazily."""
    from mock_server.protocol.validation import warm_up as build_validators

    try:
        build_validators()
        default_transcriber()
        # What is alive now (modules, the SDK's models, the validators just built) lives as
        # long as the process: frozen, the cyclic collector no longer walks it. A full
        # collection walked ~160,000 such objects (90 ms; in a test process, over a second)
        # whenever sessions allocate many containers, stalling every session.
        gc.collect()
        gc.freeze()
    except Exception:  # pragma: no cover - a broken SDK install; sessions say what fails
        log.exception("realtime-mock: warming up failed; sessions build their validators lazily")


@functools.cache
def default_transcriber() -> Callable[[bytes], str | None]:
    """Input transcription by recognising the fixtures a client streams (see fingerprint)."""
    from mock_server.fingerprint import FingerprintIndex

    return FingerprintIndex.from_manifest().transcribe


class ThreadedMockServer:
    """A :class:`MockServer` running in a background thread, for sync code and pytest fixtures::

    with ThreadedMockServer(port=0) as server:
        client = OpenAI(api_key="sk-test", base_url=server.base_url)
    """

    def __init__(self, **kwargs: Any) -> None:
        self.server = MockServer(**kwargs)
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, daemon=True)

    def start(self, timeout: float = 10) -> MockServer:
        self._thread.start()
        asyncio.run_coroutine_threadsafe(self.server.start(), self._loop).result(timeout)
        return self.server

    def stop(self, timeout: float = 10) -> None:
        with contextlib.suppress(Exception):
            asyncio.run_coroutine_threadsafe(self.server.stop(), self._loop).result(timeout)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(timeout)
        self._loop.close()

    def call(self, fn: Callable[[], Any], timeout: float = 10) -> Any:
        """Run ``fn`` on the server's loop (mounts and connections belong to it)."""

        async def run() -> Any:
            return fn()

        return asyncio.run_coroutine_threadsafe(run(), self._loop).result(timeout)

    def __enter__(self) -> MockServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


def describe(server: MockServer, *, any_key: bool) -> str:
    """The lines ``realtime-mock serve`` prints: URLs and what to hand the SDKs."""
    lines = [
        f"realtime-mock listening on {server.ws_url}",
    ]
    if server.wss_url:
        lines.append(f"                      and {server.wss_url}")
    lines += [
        "",
        "Point the openai SDKs at it:",
        f"  OPENAI_BASE_URL={server.base_url}",
        "  OPENAI_API_KEY="
        + ("sk-mock (any non-empty key is accepted)" if any_key else "<one of --api-key>"),
    ]
    if server.ca_path is not None:
        lines += [
            "",
            "TLS (trust this CA; some SDKs only connect over wss://):",
            f"  OPENAI_BASE_URL={server.https_base_url}",
            f"  SSL_CERT_FILE={server.ca_path}",
            f"  NODE_EXTRA_CA_CERTS={server.ca_path}",
        ]
    lines += [
        "",
        f"Health check: http://{server._host_for_url()}:{server.port}/healthz",
        "Stop with Ctrl-C.",
    ]
    if server.host not in ("127.0.0.1", "localhost", "::1"):
        lines.insert(1, f"WARNING: listening on {server.host}, reachable from other machines.")
    return "\n".join(lines)
