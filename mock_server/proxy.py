"""Pass-through: the mock relays a client's connection to an upstream Realtime endpoint.

A mount with an :class:`Upstream` does not emulate: at the handshake it opens the same
connection upstream (default ``wss://api.openai.com/v1/realtime``, the client's query and dialect
kept, the key replaced by the upstream key), and a refusal there (401, 429 with its
``retry-after``, ...) goes back to the client as the same HTTP status, headers and body. Once both
sides are open, :class:`Relay` moves frames both ways unchanged and writes each one, parsed, into
the connection's :class:`~mock_server.transcript.Transcript`: the one record the recorder reads
when the connection ends (see :mod:`mock_server.record`).

The upstream key is the client's own when it sends a real one (an ``sk-``/``ek_`` key of real
length), else ``OPENAI_API_KEY`` of the recording process: a client under test usually carries a
placeholder key. Keys reach the upstream in a header only; query-string keys are dropped. A
redirect from the upstream is never followed (the key would go to whatever host it names): the
client gets a 502 that says where it pointed.

Whatever happens to a relayed connection (the upstream closes without a status or is lost, a
frame cannot be parsed, a rule or the relay itself fails), the transcript ends with the close the
client got and the recorder gets it; a failure is one line in the log, never with a key.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from websockets.asyncio.client import ClientConnection, connect
from websockets.asyncio.server import ServerConnection
from websockets.datastructures import Headers
from websockets.exceptions import ConnectionClosed, InvalidHandshake, InvalidStatus
from websockets.http11 import Request, Response
from websockets.typing import Subprotocol

from mock_server.ids import IdFactory
from mock_server.protocol.events import Dialect, wire_name
from mock_server.protocol.limits import MAX_SESSION_DURATION_S
from mock_server.redaction import SECRET_QUERY, is_secret_query, redact_text
from mock_server.transcript import CLOSED_BY_SERVER, REFUSED, Direction, Transcript

if TYPE_CHECKING:  # the scenario format is loaded only when a passthrough scenario has rules
    from mock_server.scenario.model import EventMatch, Rule, Step
    from mock_server.scenario.runner import RuleBook

log = logging.getLogger("realtime_mock")

DEFAULT_UPSTREAM = "wss://api.openai.com/v1/realtime"
# Headers of the client's handshake worth repeating upstream; the rest belong to this hop.
FORWARDED_HEADERS = ("openai-beta", "openai-organization", "openai-project", "user-agent")
# Headers of an upstream refusal worth repeating to the client.
REFUSAL_HEADERS = ("content-type", "retry-after", "x-request-id", "openai-processing-ms")
REAL_KEY_PREFIXES = ("sk-", "ek_")
REAL_KEY_MIN_LENGTH = 32
# Noted when a passthrough scenario's rule cannot be applied (a bad template): no verdict reads
# a relayed connection, so the transcript and the log say it.
RULE_PROBLEM = "rule.problem"
# Noted when the relay itself failed (a bug): the client got 1011; the recording is still made.
RELAY_FAILED = "relay.failed"


def is_real_key(key: str | None) -> bool:
    """Whether ``key`` looks like a live OpenAI key rather than a test placeholder.

    >>> is_real_key("sk-mock"), is_real_key("sk-proj-" + "x" * 40), is_real_key("ek_" + "a" * 32)
    (False, True, True)
    """
    return key is not None and key.startswith(REAL_KEY_PREFIXES) and len(key) >= REAL_KEY_MIN_LENGTH


def upstream_key(client_key: str | None, configured: str | None) -> str | None:
    """The key to present upstream: the client's real one, else the configured one."""
    if is_real_key(client_key):
        return client_key
    return configured or client_key


def upstream_url(base: str, client_query: Iterable[tuple[str, str]]) -> str:
    """``base`` with the client's query added (keys in the query are dropped, never forwarded).

    >>> upstream_url("wss://api.example/v1/realtime", [("model", "gpt-realtime"), ("api_key", "x")])
    'wss://api.example/v1/realtime?model=gpt-realtime'
    """
    parts = urlsplit(base)
    query = parse_qsl(parts.query, keep_blank_values=True)
    query += [(k, v) for k, v in client_query if k.lower() not in SECRET_QUERY]
    return urlunsplit(parts._replace(query=urlencode(query)))


class _connect_without_redirects(connect):
    """websockets' ``connect`` that never follows a redirect: a 3xx stays an ``InvalidStatus``.

    websockets follows cross-origin redirects and sends the same headers, the upstream key
    included, to the new host; a relay holding someone's live key must not.
    """

    def process_redirect(self, exc: Exception) -> Exception | str:
        return exc


def _refusal(response: Response) -> Response:
    """The upstream's refusal as the response to our own client (same status and body)."""
    body = response.body or b""
    headers = Headers(
        [(k, v) for k, v in response.headers.raw_items() if k.lower() in REFUSAL_HEADERS]
    )
    headers["Content-Length"] = str(len(body))
    return Response(response.status_code, response.reason_phrase, headers, body)


def _refusal_note(response: Response) -> dict[str, Any]:
    """What the recorder needs of a refusal: status, the OpenAI error body, retry-after."""
    note: dict[str, Any] = {"status": response.status_code}
    with contextlib.suppress(ValueError, AttributeError):
        error = json.loads(response.body or b"").get("error") or {}
        note.update({k: error.get(k) for k in ("message", "code", "type")})
    retry_after = response.headers.get("retry-after")
    with contextlib.suppress(TypeError, ValueError):
        note["retry_after"] = float(retry_after) if retry_after is not None else None
    return note


class RecordingSink(Protocol):
    """Where finished connections go (the recorder implements it); ``secrets`` are the key
    values seen on the connection, so that none of them is written anywhere."""

    def add(self, transcript: Transcript, secrets: Sequence[str]) -> None: ...


@dataclass
class Upstream:
    """A live Realtime endpoint that a mount relays to.

    >>> Upstream().url
    'wss://api.openai.com/v1/realtime'
    """

    url: str = DEFAULT_UPSTREAM
    api_key: str | None = field(default_factory=lambda: os.environ.get("OPENAI_API_KEY"))
    recorder: RecordingSink | None = None
    # Under the client's own handshake bound (server.HANDSHAKE_TIMEOUT), within which the
    # upstream is opened: a slow upstream is then a 502 for the client, not a dropped connection.
    open_timeout: float = 8.0
    # Extra client options for the upstream connection (e.g. ssl= for a private CA).
    connect_options: dict[str, Any] = field(default_factory=dict)
    # Decides, per connection attempt, whether to relay it or let the mount's own script (a
    # recorded scenario) answer: record's new_episodes mode replays known episodes first.
    relays: Callable[[], bool] | None = None
    # A passthrough scenario's rules: faults scripted on top of the live session.
    rules: list[Rule] = field(default_factory=list)

    def headers_for(self, client: Headers, key: str | None) -> list[tuple[str, str]]:
        headers = [(k, v) for k, v in client.raw_items() if k.lower() in FORWARDED_HEADERS]
        if key:
            azure = urlsplit(self.url).path.rstrip("/").endswith("/openai/realtime")
            headers.append(("api-key", key) if azure else ("Authorization", f"Bearer {key}"))
        return headers

    async def open(
        self, request: Request, dialect: Dialect, transcript: Transcript
    ) -> Relay | Response:
        """Connect upstream as the client asked; a :class:`Relay`, or the refusal to send back.

        ``transcript`` already holds the redacted handshake; a refusal is noted in it (and
        handed to the recorder) before being returned.
        """
        from mock_server.protocol.http import (
            KEY_SUBPROTOCOL,
            offered_subprotocols,
            openai_error,
            presented_key,
        )

        url = urlsplit(request.path)
        query = parse_qsl(url.query, keep_blank_values=True)
        client_key = presented_key(request.headers)
        key = upstream_key(client_key, self.api_key)
        secrets = [s for s in (client_key, key, self.api_key) if s]
        secrets += [v for k, v in query if is_secret_query(k) and v]
        offered = [
            Subprotocol(p)
            for p in offered_subprotocols(request.headers)
            if not p.startswith(KEY_SUBPROTOCOL)
        ]
        started = time.monotonic()
        try:
            upstream = await _connect_without_redirects(
                upstream_url(self.url, query),
                additional_headers=self.headers_for(request.headers, key),
                subprotocols=offered or None,
                max_size=None,
                compression=None,
                open_timeout=self.open_timeout,
                **self.connect_options,
            )
        except InvalidStatus as refused:
            if 300 <= refused.response.status_code < 400:
                return self._redirected(refused.response, secrets)
            transcript.add(
                time.monotonic() - started, "note", REFUSED, event=_refusal_note(refused.response)
            )
            if self.recorder is not None:
                self.recorder.add(transcript, secrets)
            return _refusal(refused.response)
        except (OSError, InvalidHandshake, TimeoutError) as exc:
            message = redact_text(
                f"realtime-mock could not reach the upstream {self.url}: "
                f"{type(exc).__name__}: {exc}",
                secrets,
            )
            log.warning("realtime-mock: relay refused (502): %s", message)
            return openai_error(502, message, code="upstream_unreachable", type_="server_error")
        rules = None
        if self.rules:
            from mock_server.scenario.runner import RuleBook

            rules = RuleBook(self.rules)
        return Relay(upstream, transcript, secrets, self.recorder, rules, dialect)

    def _redirected(self, response: Response, secrets: Sequence[str]) -> Response:
        from mock_server.protocol.http import openai_error

        status = response.status_code
        location = response.headers.get("Location", "nowhere (no Location header)")
        message = redact_text(
            f"the upstream {self.url} answered {status} redirect to {location}; realtime-mock "
            "does not follow redirects (the upstream key would be sent to that host): point "
            "the relay at the final URL",
            secrets,
        )
        log.warning("realtime-mock: relay refused (502): %s", message)
        return openai_error(502, message, code="upstream_redirect", type_="server_error")


@dataclass
class Relay:
    """One relayed connection: frames both ways, unchanged, each one into the transcript."""

    upstream: ClientConnection
    transcript: Transcript
    secrets: list[str]
    recorder: RecordingSink | None = None
    rules: RuleBook | None = None
    dialect: Dialect = Dialect.GA
    _origin: float = field(default_factory=time.monotonic)
    _ids: IdFactory = field(default_factory=IdFactory)

    def _t(self) -> float:
        return time.monotonic() - self._origin

    def _note(self, side: Direction, frame: str | bytes) -> dict[str, Any] | None:
        t = self._t()
        if isinstance(frame, bytes):
            self.transcript.add(t, side, "<binary>", raw=f"<{len(frame)} bytes>")
            return None
        try:
            event = json.loads(frame)
        except json.JSONDecodeError:
            self.transcript.add(t, side, "<invalid json>", raw=frame[:2000])
            return None
        except RecursionError:  # nested deeper than the parser goes: relayed all the same
            self.transcript.add(t, side, "<too deep>", raw=frame[:2000])
            return None
        except ValueError as exc:  # valid JSON Python will not convert: an int over 4,300 digits
            self.transcript.add(t, side, "<unparsable>", raw=frame[:2000], note=str(exc)[:200])
            return None
        if not isinstance(event, dict):
            self.transcript.add(t, side, "<not an object>", raw=frame[:2000])
            return None
        type_ = event.get("type")
        self.transcript.add(t, side, type_ if isinstance(type_, str) else "<no type>", event=event)
        return event

    async def _pump(
        self, source: ServerConnection | ClientConnection, sink: Any, side: Direction
    ) -> None:
        async for frame in source:
            # Noted before it is passed on: the transcript orders each event before its answer.
            event = self._note(side, frame)
            scripted = side == "client" and event is not None and self.rules is not None
            if scripted and await self._scripted(event or {}, client=source):
                continue
            with contextlib.suppress(ConnectionClosed):
                await sink.send(frame)

    async def _scripted(self, event: dict[str, Any], client: Any) -> bool:
        """The rules the event fires, applied; a rule that fails is noted, and the event then
        goes upstream as if no rule had fired (the relay goes on)."""
        try:
            return await self._apply_rules(event, client)
        except ConnectionClosed:
            raise
        except Exception as exc:
            self._problem(f"{event.get('type')}: {type(exc).__name__}: {exc}")
            return False

    # ---- a passthrough scenario's faults ----------------------------------------------------

    def _new_id(self, kind: str) -> str:
        return self._ids.new(kind)  # type: ignore[arg-type]

    def _matches(self, when: EventMatch, event: dict[str, Any]) -> bool:
        from mock_server.scenario.runner import event_matches
        from mock_server.scenario.templating import TemplateError

        try:
            return event_matches(when, event, {}, self._new_id)
        except TemplateError as exc:
            self._problem(f"when {when.type}: {exc}")
            return False

    def _problem(self, message: str) -> None:
        self.transcript.add(self._t(), "note", RULE_PROBLEM, note=message)
        log.warning("realtime-mock: a passthrough rule was not applied: %s", message)

    async def _apply_rules(self, event: dict[str, Any], client: Any) -> bool:
        """Run the rules the event fires; True when one of them takes the event's place."""
        assert self.rules is not None
        instead = False
        for rule in self.rules.firing(event, self._matches):
            for step in rule.do:
                await self._act(step, client)
            instead = instead or rule.instead
        return instead

    async def _inject(self, client: ServerConnection, event: dict[str, Any]) -> None:
        wire = {"event_id": self._ids.new("event"), **event}
        wire["type"] = wire_name(str(event.get("type")), self.dialect)
        self.transcript.add(self._t(), "server", wire["type"], event=wire)
        with contextlib.suppress(ConnectionClosed):
            await client.send(json.dumps(wire, separators=(",", ":")))

    async def _close(self, client: ServerConnection, code: int, reason: str) -> None:
        code = int(code)  # websockets' CloseCode is an enum: the transcript holds plain ints
        self.transcript.add(self._t(), "note", CLOSED_BY_SERVER, note=f"{code} {reason}".strip())
        self.transcript.closed = (code, reason)
        await client.close(code, reason)

    async def _act(self, step: Step, client: ServerConnection) -> None:
        from mock_server.scenario.actions import GARBAGE
        from mock_server.scenario.templating import TemplateError, render

        if step.error is not None:
            fault = step.error.model_dump()
            await self._inject(client, {"type": "error", "error": fault})
        elif step.send is not None:
            try:
                sent = render(step.send, {}, self._new_id)
            except TemplateError as exc:
                self._problem(f"send: {exc}")
            else:
                await self._inject(client, sent)
        elif step.close is not None:
            await self._close(client, step.close.code, step.close.reason)
        elif step.drop:
            client.transport.abort()
        elif step.stall is not None:
            await asyncio.sleep(step.stall)
        elif step.garbage:
            text = step.garbage if isinstance(step.garbage, str) else GARBAGE
            self.transcript.add(self._t(), "server", "<raw>", raw=text[:2000])
            await client.send(text)
        elif step.expire:
            from mock_server.session import expiry_message

            message = expiry_message(MAX_SESSION_DURATION_S)  # the live service's limit
            error = {"type": "invalid_request_error", "code": "session_expired", "message": message}
            await self._inject(client, {"type": "error", "error": {**error, "param": None}})
            await self._close(client, 1001, message)

    async def run(self, client: ServerConnection) -> None:
        """Relay until either side closes; the other side gets the same close.

        The recording is made whatever happens: a failure of the relay itself is one line in
        the log (no key), the client gets 1011 and the transcript says so.
        """
        try:
            await self._relay(client)
        except Exception as exc:
            message = redact_text(f"{type(exc).__name__}: {exc}", self.secrets)[:500]
            log.error("realtime-mock: the relay failed (the recording is kept): %s", message)
            self.transcript.add(self._t(), "note", RELAY_FAILED, note=message)
            self.transcript.closed = (1011, "realtime-mock: relay failure")
            with contextlib.suppress(Exception):
                await client.close(1011, "realtime-mock: relay failure")
        finally:
            with contextlib.suppress(Exception):
                await self.upstream.close()
            if self.recorder is not None:
                try:
                    self.recorder.add(self.transcript, self.secrets)
                except Exception as exc:  # the relay itself went well; say what did not
                    message = redact_text(f"{type(exc).__name__}: {exc}", self.secrets)[:500]
                    log.error("realtime-mock: could not record the connection: %s", message)

    async def abandon(self) -> None:
        """Close the upstream of a connection whose client never completed its handshake."""
        with contextlib.suppress(Exception):
            await self.upstream.close()

    async def _relay(self, client: ServerConnection) -> None:
        upstream = self.upstream
        to_upstream = asyncio.ensure_future(self._pump(client, upstream, "client"))
        to_client = asyncio.ensure_future(self._pump(upstream, client, "server"))
        try:
            done, _ = await asyncio.wait(
                {to_upstream, to_client}, return_when=asyncio.FIRST_COMPLETED
            )
            for task in done:  # a pump that failed otherwise than by a close: the relay did
                failure = task.exception()
                if failure is not None and not isinstance(failure, ConnectionClosed):
                    raise failure
            if to_client in done:
                await self._upstream_closed(client)
            else:
                code, reason = int(client.close_code or 1000), client.close_reason or ""
                if self.transcript.closed is None:  # not a close a rule made
                    self.transcript.closed = (code, reason)
                await upstream.close(code if code not in (1005, 1006) else 1000, reason)
        finally:
            for task in (to_upstream, to_client):
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError, ConnectionClosed):
                    await task

    async def _upstream_closed(self, client: ServerConnection) -> None:
        """The client hears what the upstream did: its close code and reason; a close frame
        without a status (1005) as a plain 1000, since 1005 cannot be sent; a connection lost
        without any close (1006) as the same, the client's connection dropped."""
        code, reason = int(self.upstream.close_code or 1006), self.upstream.close_reason or ""
        if code == 1006:
            self.transcript.add(self._t(), "note", CLOSED_BY_SERVER, note="1006 upstream lost")
            self.transcript.closed = (1006, "upstream connection lost")
            client.transport.abort()
            return
        await self._close(client, 1000 if code == 1005 else code, reason)
