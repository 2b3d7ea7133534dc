"""The reference client: everything the Realtime docs describe, done right, in both dialects.

It is what a correct client looks like to the mock's verdicts, and a usable client in its own
right (``realtime-mock client ...``). It:

- connects with the right headers for its dialect, retrying 429 and 5xx refusals at the
  handshake with exponential backoff and full jitter, honouring ``retry-after``; a 401 becomes
  an :class:`AuthenticationError` that says what to do;
- configures the session, in the GA shape or the flat beta shape;
- sends text, or streams PCM16 audio as ``input_audio_buffer.append`` in real time or fast,
  committing by hand when server VAD is off;
- runs the function-call loop: executes the tool from its registry, sends the
  ``function_call_output`` with the right ``call_id``, then ``response.create``;
- keeps the conversation, and when the session ends by its maximum duration (close 1001 or
  ``session_expired``) reconnects and replays it as ``conversation.item.create`` items;
- on barge-in (``speech_started`` while the reply is playing) stops playback and truncates the
  reply at the ``audio_end_ms`` actually played.
"""

from __future__ import annotations

import asyncio
import base64
import json
import random
import ssl
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed, InvalidStatus

from mock_server.protocol import formats
from mock_server.protocol.events import Dialect

Tool = Callable[[dict[str, Any]], Any | Awaitable[Any]]

AUDIO_DELTAS = ("response.output_audio.delta", "response.audio.delta")
TEXT_DONE = ("response.output_text.done", "response.text.done")
TRANSCRIPT_DONE = ("response.output_audio_transcript.done", "response.audio_transcript.done")
BYTES_PER_MS = formats.BYTES_PER_MS["pcm16"]
# Errors that end the session whoever caused them.
FATAL_CODES = frozenset({"session_expired", "missing_model", "beta_api_shape_disabled"})


class ClientError(Exception):
    """Base of the reference client's errors."""


class AuthenticationError(ClientError):
    """The server refused the key (HTTP 401)."""


class HandshakeRefused(ClientError):
    """The server refused the connection and retrying did not help."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(f"HTTP {status}: {message}")
        self.status = status


class SessionError(ClientError):
    """The server sent an ``error`` event the client cannot recover from."""


@dataclass
class Backoff:
    """Exponential backoff with full jitter; ``retry-after`` wins when the server sends it."""

    base_s: float = 0.5
    max_s: float = 8.0
    retries: int = 5
    rng: random.Random = field(default_factory=random.Random)

    def delay(self, attempt: int, retry_after: float | None = None) -> float:
        if retry_after is not None:
            return min(retry_after, self.max_s * 4)
        return self.rng.uniform(0, min(self.max_s, self.base_s * 2**attempt))


@dataclass
class Turn:
    """What one response produced."""

    response_id: str = ""
    status: str = ""
    text: str = ""
    audio: bytearray = field(default_factory=bytearray)
    function_calls: list[dict[str, Any]] = field(default_factory=list)
    items: list[dict[str, Any]] = field(default_factory=list)
    events: list[dict[str, Any]] = field(default_factory=list)


@dataclass
class ClientConfig:
    """Where and how to connect; ``session`` is GA-shaped and converted for beta."""

    url: str
    api_key: str
    model: str = "gpt-realtime"
    # The one Dialect; its name as typed ("ga", "beta") is accepted and converted.
    dialect: Dialect | str = Dialect.GA
    session: dict[str, Any] = field(default_factory=dict)
    tools: dict[str, Tool] = field(default_factory=dict)
    tool_schemas: list[dict[str, Any]] = field(default_factory=list)
    backoff: Backoff = field(default_factory=Backoff)
    ssl_context: ssl.SSLContext | None = None
    timeout_s: float = 30.0
    max_reconnects: int = 3

    def __post_init__(self) -> None:
        self.dialect = Dialect(self.dialect)


def _beta_session(ga: dict[str, Any]) -> dict[str, Any]:
    """The beta (flat) form of a GA-shaped session configuration."""
    beta: dict[str, Any] = {}
    formats = {"audio/pcm": "pcm16", "audio/pcmu": "g711_ulaw", "audio/pcma": "g711_alaw"}
    for key, value in ga.items():
        if key == "type":
            continue
        if key == "output_modalities":
            beta["modalities"] = ["text", "audio"] if "audio" in value else ["text"]
        elif key == "max_output_tokens":
            beta["max_response_output_tokens"] = value
        elif key == "audio":
            audio_in = value.get("input", {})
            audio_out = value.get("output", {})
            if "format" in audio_in:
                beta["input_audio_format"] = formats.get(audio_in["format"].get("type"), "pcm16")
            if "turn_detection" in audio_in:
                beta["turn_detection"] = audio_in["turn_detection"]
            if "transcription" in audio_in:
                beta["input_audio_transcription"] = audio_in["transcription"]
            if "format" in audio_out:
                beta["output_audio_format"] = formats.get(audio_out["format"].get("type"), "pcm16")
            if "voice" in audio_out:
                beta["voice"] = audio_out["voice"]
        elif key == "tool_choice" and isinstance(value, dict):
            beta["tool_choice"] = value.get("name", "required")
        else:
            beta[key] = value
    return beta


class RealtimeClient:
    """An async Realtime client::

    config = ClientConfig(url="ws://127.0.0.1:8765/v1/realtime", api_key="sk-x")
    async with RealtimeClient(config) as client:
        turn = await client.say("Hello")
        print(turn.text)
    """

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

    async def __aenter__(self) -> RealtimeClient:
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
                message = _error_message(response.body)
                if response.status_code == 401:
                    raise AuthenticationError(
                        f"the server refused the API key (HTTP 401): {message} Check "
                        "OPENAI_API_KEY; send it as 'Authorization: Bearer KEY', never in the URL."
                    ) from None
                retryable = response.status_code == 429 or response.status_code >= 500
                if not retryable or attempt >= backoff.retries:
                    raise HandshakeRefused(response.status_code, message) from None
                retry_after = _retry_after(response.headers.get("retry-after"))
                await asyncio.sleep(backoff.delay(attempt, retry_after))
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
            session = _beta_session(session)
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
            raise _closed_error(closed) from closed
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
            raise _closed_error(closed) from closed
        event: dict[str, Any] = json.loads(raw)
        self.received.append(event)
        if event.get("type") == "error":
            self.errors.append(event["error"])
        return event

    async def events(self) -> AsyncIterator[dict[str, Any]]:
        while True:
            yield await self._next_event()

    async def wait_for(self, *types: str) -> dict[str, Any]:
        """The next event of one of ``types``; other events are kept for later readers."""
        skipped: list[dict[str, Any]] = []
        try:
            while True:
                event = await self._next_event()
                if event.get("type") in types:
                    return event
                if event.get("type") == "error" and "error" not in types:
                    error = event["error"]
                    if error.get("event_id") in self._mine or error.get("code") in FATAL_CODES:
                        raise SessionError(f"{error.get('code')}: {error}")
                    continue
                skipped.append(event)
        finally:
            self._pending[:0] = skipped

    # ---- conversation --------------------------------------------------------------------

    async def add_item(self, item: dict[str, Any]) -> None:
        """Create an item (kept in the GA shape in :attr:`history`, sent in the dialect's)."""
        wire = item
        if self.config.dialect is Dialect.BETA and item.get("role") == "assistant":
            wire = {
                **item,
                "content": [
                    {**part, "type": "text"} if part.get("type") == "output_text" else part
                    for part in item.get("content", [])
                ],
            }
        await self.send({"type": "conversation.item.create", "item": wire})
        self.history.append(item)

    async def say(self, text: str, **response: Any) -> Turn:
        """Send a user message and run the response (and any function calls) to the end."""
        item = {
            "type": "message",
            "role": "user",
            "content": [{"type": "input_text", "text": text}],
        }
        return await self._with_reconnect(self._say_once, item, response)

    async def _say_once(self, item: dict[str, Any], response: dict[str, Any]) -> Turn:
        await self.add_item(item)
        return await self.respond(**response)

    async def respond(self, **response: Any) -> Turn:
        """``response.create``, then run the function-call loop until a response has no calls."""
        while True:
            event: dict[str, Any] = {"type": "response.create"}
            if response:
                event["response"] = response
            await self.send(event)
            turn = await self.read_response()
            if not turn.function_calls or turn.status != "completed":
                return turn
            for call in turn.function_calls:
                await self.add_item(
                    {
                        "type": "function_call_output",
                        "call_id": call["call_id"],
                        "output": await self._run_tool(call),
                    }
                )

    async def _run_tool(self, call: dict[str, Any]) -> str:
        tool = self.config.tools.get(call["name"])
        if tool is None:
            return json.dumps({"error": f"no tool named {call['name']!r}"})
        try:
            arguments = json.loads(call.get("arguments") or "{}")
        except json.JSONDecodeError as exc:
            return json.dumps({"error": f"arguments are not JSON: {exc}"})
        result = tool(arguments)
        if asyncio.iscoroutine(result) or isinstance(result, asyncio.Future):
            result = await result
        return result if isinstance(result, str) else json.dumps(result)

    async def read_response(self) -> Turn:
        """Read one response's events until ``response.done``."""
        turn = Turn()
        while True:
            event = await self._next_event()
            turn.events.append(event)
            kind = event.get("type", "")
            if kind == "error":
                error = event["error"]
                if error.get("event_id") in self._mine or error.get("code") in FATAL_CODES:
                    raise SessionError(f"{error.get('code')}: {error['message']}")
                continue  # the server's own trouble, not about our request: noted, go on
            if kind == "response.created":
                turn.response_id = event["response"]["id"]
            elif kind in AUDIO_DELTAS:
                turn.audio.extend(base64.b64decode(event["delta"]))
            elif kind in TEXT_DONE:
                turn.text += event["text"]
            elif kind in TRANSCRIPT_DONE:
                turn.text += event["transcript"]
            elif kind == "input_audio_buffer.speech_started" and turn.audio:
                await self._barge_in(turn)
            elif kind == "response.output_item.done":
                item = event["item"]
                turn.items.append(item)
                if item.get("type") == "function_call":
                    turn.function_calls.append(item)
                    self.history.append(
                        {k: item[k] for k in ("type", "name", "call_id", "arguments") if k in item}
                    )
                elif item.get("role") == "assistant":
                    self.history.append(_assistant_text_item(item))
            elif kind == "response.done":
                turn.status = event["response"]["status"]
                return turn

    async def _barge_in(self, turn: Turn) -> None:
        """The user talks over the reply: stop playback, truncate at what was played."""
        item_id = next(
            (e["item_id"] for e in reversed(turn.events) if e.get("type") in AUDIO_DELTAS), None
        )
        if item_id is None:
            return
        received_ms = len(turn.audio) // BYTES_PER_MS
        played = self.played_ms(turn) if self.played_ms is not None else received_ms
        await self.send(
            {
                "type": "conversation.item.truncate",
                "item_id": item_id,
                "content_index": 0,
                "audio_end_ms": min(played, received_ms),
            }
        )

    # ---- audio in ------------------------------------------------------------------------

    async def stream_audio(
        self, pcm: bytes, *, chunk_ms: int = 20, realtime: bool = False, commit: bool | None = None
    ) -> None:
        """Stream PCM16 24 kHz audio; commit by hand when server VAD is off (or if asked)."""
        step = chunk_ms * BYTES_PER_MS
        loop = asyncio.get_running_loop()
        start = loop.time()
        for n, offset in enumerate(range(0, len(pcm), step)):
            chunk = pcm[offset : offset + step]
            await self.send(
                {"type": "input_audio_buffer.append", "audio": base64.b64encode(chunk).decode()}
            )
            if realtime:
                await asyncio.sleep(max(0.0, start + (n + 1) * chunk_ms / 1000 - loop.time()))
        if commit is None:
            commit = self._turn_detection() is None
        if commit:
            await self.send({"type": "input_audio_buffer.commit"})

    def _turn_detection(self) -> Any:
        if self.config.dialect is Dialect.GA:
            return self.session.get("audio", {}).get("input", {}).get("turn_detection")
        return self.session.get("turn_detection")

    # ---- the session's end -----------------------------------------------------------------

    async def _with_reconnect(self, action: Callable[..., Awaitable[Turn]], *args: Any) -> Turn:
        for _ in range(self.config.max_reconnects + 1):
            before = len(self.history)
            try:
                return await action(*args)
            except (ConnectionClosed, SessionError) as exc:
                if not _session_ended(exc):
                    raise
                # The interrupted step starts over on the new session: forget what it added.
                del self.history[before:]
                await self.reconnect()
        raise ClientError("the session kept ending; gave up reconnecting")

    async def reconnect(self) -> None:
        """Open a new session and replay the conversation so far as items."""
        self.reconnects += 1
        await self.close()
        self._pending.clear()
        history, self.history = self.history, []
        await self.connect()
        for item in history:
            await self.add_item(item)
        for _ in history:
            await self.wait_for("conversation.item.done", "conversation.item.created")


def _assistant_text_item(item: dict[str, Any]) -> dict[str, Any]:
    """An assistant message as it can be replayed (clients cannot create assistant audio)."""
    text = " ".join(
        part.get("text") or part.get("transcript") or "" for part in item.get("content", [])
    )
    return {
        "type": "message",
        "role": "assistant",
        "content": [{"type": "output_text", "text": text}],
    }


def _closed_error(closed: ConnectionClosed) -> Exception:
    """1001 (the session's end) stays a ConnectionClosed, to reconnect; any other close is an
    error that says what the server said."""
    if closed.rcvd is not None and closed.rcvd.code == 1001:
        return closed
    if closed.rcvd is None:
        return SessionError("the connection was cut without a close frame")
    return SessionError(f"the server closed the session: {closed.rcvd.code} {closed.rcvd.reason}")


def _session_ended(exc: Exception) -> bool:
    if isinstance(exc, ConnectionClosed):
        return exc.rcvd is not None and exc.rcvd.code == 1001
    return "session_expired" in str(exc)


def _retry_after(value: str | None) -> float | None:
    if value is None:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        return None


def _error_message(body: bytes | None) -> str:
    if not body:
        return ""
    try:
        return str(json.loads(body)["error"]["message"])
    except (ValueError, KeyError, TypeError):
        return body.decode(errors="replace")[:200]
