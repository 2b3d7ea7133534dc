"""The upstream side of a pass-through: a live Realtime endpoint, opened as the client asked.

A mount with an :class:`Upstream` does not emulate: at the handshake it opens the same
connection upstream (default ``wss://api.openai.com/v1/realtime``, the client's query and dialect
kept, the key replaced by the upstream key), and a refusal there (401, 429 with its
``retry-after``, ...) goes back to the client as the same HTTP status, headers and body. Once
open, the connection is a :class:`~mock_server.relay.relayed.Relay`.

The upstream key is the client's own when it sends a real one (an ``sk-``/``ek_`` key of real
length), else ``OPENAI_API_KEY`` of the recording process: a client under test usually carries a
placeholder key. Keys reach the upstream in a header only; query-string keys are dropped. A
redirect from the upstream is never followed (the key would go to whatever host it names): the
client gets a 502 that says where it pointed.
"""

from __future__ import annotations

import contextlib
import functools
import logging
import os
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from websockets.datastructures import Headers
from websockets.exceptions import InvalidHandshake, InvalidStatus
from websockets.http11 import Request, Response
from websockets.typing import Subprotocol

from mock_server.protocol.events import Dialect
from mock_server.protocol.http import (
    KEY_SUBPROTOCOL,
    error_fields,
    offered_subprotocols,
    openai_error,
    presented_key,
)
from mock_server.redaction import SECRET_QUERY, is_secret_query, redact_text

if TYPE_CHECKING:  # the scenario format is loaded only when a passthrough scenario has rules
    from websockets.asyncio.client import connect

    from mock_server.relay.relayed import RecordingSink, Relay
    from mock_server.scenario.model import Rule
    from mock_server.transcript import Transcript

log = logging.getLogger("realtime_mock")

DEFAULT_UPSTREAM = "wss://api.openai.com/v1/realtime"
# Headers of the client's handshake worth repeating upstream; the rest belong to this hop.
FORWARDED_HEADERS = ("openai-beta", "openai-organization", "openai-project", "user-agent")
# Headers of an upstream refusal worth repeating to the client.
REFUSAL_HEADERS = ("content-type", "retry-after", "x-request-id", "openai-processing-ms")
REAL_KEY_PREFIXES = ("sk-", "ek_")
REAL_KEY_MIN_LENGTH = 32


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


@functools.cache
def _connect_without_redirects() -> type[connect]:
    """websockets' ``connect`` that never follows a redirect: a 3xx stays an ``InvalidStatus``.

    websockets follows cross-origin redirects and sends the same headers, the upstream key
    included, to the new host; a relay holding someone's live key must not. Made on first use:
    websockets' client is not loaded by a server that relays nothing.
    """
    from websockets.asyncio.client import connect

    class ConnectWithoutRedirects(connect):
        def process_redirect(self, exc: Exception) -> Exception | str:
            return exc

    return ConnectWithoutRedirects


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
    note.update(error_fields(response.body))
    retry_after = response.headers.get("retry-after")
    with contextlib.suppress(TypeError, ValueError):
        note["retry_after"] = float(retry_after) if retry_after is not None else None
    return note


@dataclass
class Upstream:
    """A live Realtime endpoint that a mount relays to.

    >>> Upstream().url
    'wss://api.openai.com/v1/realtime'
    """

    url: str = DEFAULT_UPSTREAM
    api_key: str | None = field(default_factory=lambda: os.environ.get("OPENAI_API_KEY"))
    recorder: RecordingSink | None = None
    # Under the client's own handshake bound (the server's HANDSHAKE_TIMEOUT), within which the
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
            upstream = await _connect_without_redirects()(
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
            from mock_server.transcript import REFUSED  # loaded after listening (warm.py)

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
            from mock_server.scenario.rules import RuleBook

            rules = RuleBook(self.rules)
        from mock_server.relay.relayed import Relay  # the session package comes with it

        return Relay(upstream, transcript, secrets, self.recorder, rules, dialect)

    def _redirected(self, response: Response, secrets: Sequence[str]) -> Response:
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
