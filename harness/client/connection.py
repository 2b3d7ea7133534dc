"""The reference client's connection: connect with backoff, configure, send, read.

:class:`Connection` opens the WebSocket with the dialect's headers (retrying 429 and 5xx
refusals with exponential backoff and full jitter, honouring ``retry-after``), waits for
``session.created``, configures the session in the dialect's shape, stamps an ``event_id`` on
every event it sends and reads events in order, keeping those a reader skipped for the next.
The conversation, audio and function calls are :class:`~harness.client.RealtimeClient`'s.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Callable
from typing import Any, Self

from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed, InvalidStatus

from harness.client.config import ClientConfig, Turn, beta_session
from harness.client.errors import (
    FATAL_CODES,
    AuthenticationError,
    HandshakeRefused,
    SessionError,
    closed_error,
    error_message,
    retry_after,
)
from mock_server.protocol.events import Dialect


class Connection:
    """One Realtime connection at a time, with what it received and the history to replay."""

    def __init__(self, config: ClientConfig) -> None:
        self.config = config
        self.ws: ClientConnection | None = None
        self.session: dict[str, Any] = {}
        self.history: list[dict[str, Any]] = []  # items to replay after a reconnect
        self.received: list[dict[str, Any]] = []
        self.connections = 0
        self.reconnects = 0
        self.errors: list[dict[str, Any]] = []
        self._pending: list[dict[str, Any]] = []
        self._sent = 0
        self._mine: set[str] = set()
        self.played_ms: Callable[[Turn], int] | None = None

    async def __aenter__(self) -> Self:
        await self.connect()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    # ---- connection ----------------------------------------------------------------------

    def _url(self) -> str:
        separator = "&" if "?" in self.config.url else "?"
        return f"{self.config.url}{separator}model={self.config.model}"

    def _headers(self) -> dict[str, str]:
        headers = {"Authorization": f"Bearer {self.config.api_key}"}
        if self.config.dialect is Dialect.BETA:
            headers["OpenAI-Beta"] = "realtime=v1"
        return headers

    async def connect(self) -> None:
        """Connect (with backoff), wait for ``session.created``, configure the session."""
        backoff = self.config.backoff
        attempt = 0
        while True:
            try:
                self.ws = await connect(
                    self._url(),
                    additional_headers=self._headers(),
                    ssl=self.config.ssl_context,
                    max_size=None,
                    open_timeout=self.config.timeout_s,
                )
                break
            except InvalidStatus as refused:
                response = refused.response
                message = error_message(response.body)
                if response.status_code == 401:
                    raise AuthenticationError(
                        f"the server refused the API key (HTTP 401): {message} Check "
                        "OPENAI_API_KEY; send it as 'Authorization: Bearer KEY', never in the URL."
                    ) from None
                retryable = response.status_code == 429 or response.status_code >= 500
                if not retryable or attempt >= backoff.retries:
                    raise HandshakeRefused(response.status_code, message) from None
                delay = backoff.delay(attempt, retry_after(response.headers.get("retry-after")))
                await asyncio.sleep(delay)
                attempt += 1
        self.connections += 1
        created = await self._next_event()
        if created.get("type") == "error":
            code = created["error"].get("code")
            raise SessionError(f"the server refused the session: {code}: {created['error']}")
        self.session = created.get("session", {})
        if self.config.dialect is Dialect.BETA:
            # beta sends conversation.created right after session.created
            self._pending.append(await self._next_event())
        await self.configure()

    async def configure(self) -> None:
        session = dict(self.config.session)
        if self.config.tool_schemas:
            session["tools"] = self.config.tool_schemas
        if not session:
            return
        if self.config.dialect is Dialect.GA:
            session = {"type": "realtime", **session}
        else:
            session = beta_session(session)
        await self.send({"type": "session.update", "session": session})
        updated = await self.wait_for("session.updated")
        self.session = updated["session"]

    async def close(self) -> None:
        if self.ws is not None:
            await self.ws.close()
            self.ws = None

    async def send(self, event: dict[str, Any]) -> str:
        """Send an event with an ``event_id`` of ours (errors name it); returns the id."""
        assert self.ws is not None, "not connected"
        self._sent += 1
        event_id = event.get("event_id") or f"evt_ref_{self._sent}"
        try:
            await self.ws.send(json.dumps({**event, "event_id": event_id}))
        except ConnectionClosed as closed:
            raise closed_error(closed) from closed
        self._mine.add(event_id)
        return str(event_id)

    async def cancel(self) -> None:
        """Cancel the response in progress."""
        await self.send({"type": "response.cancel"})

    async def _next_event(self) -> dict[str, Any]:
        if self._pending:
            return self._pending.pop(0)
        assert self.ws is not None, "not connected"
        try:
            raw = await asyncio.wait_for(self.ws.recv(), self.config.timeout_s)
        except ConnectionClosed as closed:
            raise closed_error(closed) from closed
        event: dict[str, Any] = json.loads(raw)
        self.received.append(event)
        if event.get("type") == "error":
            self.errors.append(event["error"])
        return event

    async def events(self) -> AsyncIterator[dict[str, Any]]:
        while True:
            yield await self._next_event()

    async def wait_for(self, *types: str, keep: bool = False) -> dict[str, Any]:
        """The next event of one of ``types``; other events are kept for later readers (and
        that one too, with ``keep``)."""
        skipped: list[dict[str, Any]] = []
        try:
            while True:
                event = await self._next_event()
                if event.get("type") in types:
                    if keep:
                        skipped.append(event)
                    return event
                if event.get("type") == "error" and "error" not in types:
                    error = event["error"]
                    if error.get("event_id") in self._mine or error.get("code") in FATAL_CODES:
                        raise SessionError(f"{error.get('code')}: {error}")
                    continue
                skipped.append(event)
        finally:
            self._pending[:0] = skipped
