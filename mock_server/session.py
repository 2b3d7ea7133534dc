"""One Realtime session as a state machine that never touches a socket.

The driver (the websockets server, a test, the proxy) feeds it client frames with
:meth:`Session.receive` and asks, with :meth:`Session.due`, for the server output whose time
has come; :meth:`Session.next_deadline` says when to ask next. Time is a parameter: every method
that can produce output takes ``now``, and responses are paced by ``pace`` (1.0 = real time,
0 = as fast as possible), so a test can run an hour of session in a millisecond.

The session keeps the protocol state of the live service (configuration, conversation items,
the input audio buffer, active responses, ids) and emits each turn's full canonical event
sequence (PROTOCOL.md section 6) under GA names; at the edge :meth:`_emit` renames for the
connection's dialect, stamps the ``event_id``, writes the transcript and hands the event out.
Bad client input never raises: it becomes an ``error`` event naming the client's ``event_id``,
and the session goes on.
"""

from __future__ import annotations

import base64
import binascii
import copy
import heapq
import itertools
import logging
import math
from collections.abc import Callable, Generator, Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any, Protocol

from mock_server.diagnostics import InputAudioDiagnostics
from mock_server.ids import IdFactory
from mock_server.protocol import items as item_codec
from mock_server.protocol import session_config
from mock_server.protocol.errors import RealtimeError
from mock_server.protocol.events import Dialect, wire_name
from mock_server.protocol.formats import BYTES_PER_MS
from mock_server.protocol.frames import (
    MAX_SESSION_CONFIG_BYTES,
    WIRE_JSON,
    Malformed,
    event_id_of,
    read_frame,
)
from mock_server.protocol.limits import MAX_SESSION_DURATION_S
from mock_server.responder import (
    CannedResponder,
    FunctionCallOutput,
    MessageOutput,
    Responder,
    ResponsePlan,
    ResponseRequest,
    placeholder_speech_chunks,
    placeholder_speech_length,
)
from mock_server.transcript import SESSION_PAYLOAD_LIMIT, Finding, Transcript, elided

log = logging.getLogger("realtime_mock")

# Pauses a response generator yields are seconds of real time, scaled by the session's pace.
Pause = float

MIN_COMMIT_MS = 100
AUDIO_CHUNK_MS = 100
TEXT_DELTA_S = 0.02
MAX_APPEND_BYTES = 15 * 1024 * 1024
# The input audio buffer holds at most what one append may carry (327 s of PCM16, 33 min of
# G.711): a committed turn then never outgrows one event, and a session's buffer is bounded
# whatever the client streams. An append past it is refused (input_audio_buffer_full).
MAX_INPUT_BUFFER_BYTES = MAX_APPEND_BYTES
# The audio a conversation's items hold, both ways (46 min of PCM16, more than a 60-minute
# session's honest turns leave). Past it the oldest items' audio is let go, as the live
# service truncates the oldest turns out of the model's context; nothing is refused.
MAX_CONVERSATION_AUDIO_BYTES = 128 * 1024 * 1024
AUDIO_RELEASED = "conversation_audio_released"
DEFAULT_MAX_DURATION_S = MAX_SESSION_DURATION_S
# Out-of-band responses (conversation: none) a session may have streaming at once; the live
# service streams a few side responses (classification, moderation) next to the conversation's.
MAX_OUT_OF_BAND_RESPONSES = 8
# Every session.updated carries the whole configuration (tools, instructions): its size, and
# so the cost of each update's event, is bounded.
# The conversation's size: items, their content parts, and the text they hold (what each
# response's usage reads and each item lookup walks). An hour-long conversation of honest
# turns holds a few thousand items; past a bound an item.create is refused
# (conversation_too_large) rather than letting a client grow the session without end.
MAX_CONVERSATION_ITEMS = 10_000
MAX_CONVERSATION_PARTS = 5_000
MAX_CONVERSATION_TEXT = 32 * 1024 * 1024


@dataclass(frozen=True)
class ServerEvent:
    """A JSON event ready for the wire: ``text`` is its encoding."""

    event: dict[str, Any]
    text: str


@dataclass(frozen=True)
class Close:
    """Close the WebSocket with this code and reason."""

    code: int
    reason: str


@dataclass(frozen=True)
class Drop:
    """Cut the TCP connection without a close frame."""


@dataclass(frozen=True)
class RawFrame:
    """A frame sent as is (malformed traffic on purpose)."""

    data: str | bytes


Output = ServerEvent | Close | Drop | RawFrame


OutboundCheck = Callable[[dict[str, Any], Dialect], None]

# Hooks run on every event any session emits (the test suite's conformance check uses this).
outbound_checks: list[OutboundCheck] = []


class Script(Protocol):
    """What drives a session beyond the emulator (the scenario runner implements it).

    The session shows the script every valid client event before handling it, asks it for the
    plan of every response, and polls it at the deadlines it names; the script acts through the
    session's public actions (:meth:`Session.inject`, :meth:`Session.send_error`,
    :meth:`Session.close`, :meth:`Session.drop`, :meth:`Session.send_raw`,
    :meth:`Session.stall`, :meth:`Session.expire`, :meth:`Session.create_response`).
    """

    def attach(self, session: Session, now: float) -> None: ...

    def on_client_event(self, event: dict[str, Any], now: float) -> bool:
        """Return True when the script has handled the event (the emulator then does nothing)."""
        ...

    def on_rejected_event(self, event: dict[str, Any], now: float) -> bool:
        """An event the emulator's validation refuses: True when the script answers it instead
        (the emulator then sends no error of its own)."""
        ...

    def plan_response(self, request: ResponseRequest) -> ResponsePlan | None:
        """The plan of the next response, or None to let the emulator's responder answer."""
        ...

    def poll(self, now: float) -> None: ...

    def detach(self) -> None:
        """The connection has ended: drop the session, keeping what the verdict needs."""
        ...

    def next_deadline(self) -> float | None: ...

    def transcribe(self, audio: bytes) -> str | RealtimeError | None:
        """The input transcription of a committed turn: text, a failure, or None (default)."""
        ...


@dataclass
class SessionOptions:
    """How a session behaves; the server fills it from the CLI, a mount or a scenario."""

    dialect: Dialect = Dialect.GA
    model: str = "gpt-realtime"
    seed: int | str | None = None
    pace: float = 1.0
    intent: str | None = None
    max_duration_s: float | None = DEFAULT_MAX_DURATION_S
    # Close (1001) after this long without a client frame while no response streams.
    close_idle_after_s: float | None = None
    session_overrides: dict[str, Any] = field(default_factory=dict)
    send_conversation_created: bool | None = None
    transcriber: Callable[[bytes], str | None] | None = None


@dataclass
class _ResponseRun:
    """An active response: its plan, its state so far, and the generator that streams it."""

    id: str
    plan: ResponsePlan
    in_conversation: bool
    modalities: list[str]
    output_format: str
    voice: Any
    metadata: dict[str, Any] | None
    max_output_tokens: Any
    output: list[dict[str, Any]] = field(default_factory=list)
    current: dict[str, Any] | None = None
    current_kind: str | None = None
    wake_at: float = 0.0
    stream: Generator[Pause, None, None] | None = None
    # Creation order: runs due at the same time advance in it.
    seq: int = 0


def _estimate_tokens(text: str) -> int:
    return max(1, math.ceil(len(text) / 4)) if text else 0


class Session:
    """The state of one Realtime connection.

    >>> s = Session(SessionOptions(pace=0, seed=1))
    >>> s.open(now=0.0)
    >>> [o.event["type"] for o in s.due(0.0)]
    ['session.created']
    >>> s.receive('{"type": "response.cancel", "event_id": "e1"}', now=0.0)
    >>> err = s.due(0.0)[0].event
    >>> err["error"]["code"], err["error"]["event_id"]
    ('response_cancel_not_active', 'e1')
    """

    def __init__(
        self,
        options: SessionOptions | None = None,
        *,
        responder: Responder | None = None,
        transcript: Transcript | None = None,
        script: Script | None = None,
    ) -> None:
        self.options = options or SessionOptions()
        self.script = script
        self.dialect = self.options.dialect
        self.ids = IdFactory(self.options.seed)
        self.responder: Responder = responder or CannedResponder()
        self.transcript = transcript if transcript is not None else Transcript()
        if self.transcript.payload_limit is None:
            self.transcript.payload_limit = SESSION_PAYLOAD_LIMIT
        self.config: dict[str, Any] = {}
        self._config_sizes: dict[str, int] = {}
        # The last session event's fields and their JSON (see _emit_session).
        self._session_json: dict[str, tuple[Any, str]] = {}
        self.conversation_id = ""
        self.items: list[dict[str, Any]] = []
        self._item_ids: set[str] = set()
        # The size of the items the client created (parts, characters), for the conversation's
        # bounds; the model's items are bounded by the reply's own limits.
        self._client_sizes: dict[str, tuple[int, int]] = {}
        self._client_parts = 0
        self._client_text = 0
        self._item_audio: dict[str, bytearray] = {}
        self._item_format: dict[str, str] = {}  # output items' audio format, for truncate
        self._audio_held = 0  # bytes in _item_audio, kept under MAX_CONVERSATION_AUDIO_BYTES
        self._finding_kinds: set[str] = set()  # reported once a session: no scan per append
        self.input_buffer = bytearray()
        self._ready: list[Output] = []
        self._runs: list[_ResponseRun] = []
        # (wake_at, seq, run) of every active run, so that due() touches only the runs whose
        # time has come; entries of ended runs are skipped when they surface.
        self._wakeups: list[tuple[float, int, _ResponseRun]] = []
        self._run_seq = itertools.count()
        self._started_at = 0.0
        self._now = 0.0
        self._expires_at: float | None = None
        self.closed: Close | Drop | None = None
        self._rate_remaining = {"requests": 5000, "tokens": 40000}
        self.audio_written_ms = 0.0
        self._vad: Any = None
        self._vad_item_id: str | None = None
        self._issued_calls: set[str] = set()
        self._stalled_until: float | None = None
        self._idle_deadline: float | None = None
        self._last_activity = 0.0
        self.audio_diagnostics = InputAudioDiagnostics()
        self._pending_calls: dict[str, str] = {}

    # ---- driving -------------------------------------------------------------------------

    def open(self, now: float) -> None:
        """Start the session: ``session.created`` (and ``conversation.created`` for beta)."""
        self._started_at = self._now = self._last_activity = now
        session_id = self.ids.new("sess")
        self.conversation_id = self.ids.new("conv")
        if self.options.intent == "transcription" and self.dialect is Dialect.GA:
            self.config = session_config.transcription_session(session_id, now)
        else:
            self.config = session_config.default_session(
                self.dialect, self.options.model, session_id, now
            )
        refused: RealtimeError | None = None
        if self.options.session_overrides:
            overrides = self.options.session_overrides
            # Client frames cannot carry NaN (strict parsing); a scenario's YAML can (.nan).
            where = session_config.first_non_finite(overrides)
            if where is None:
                self.config = session_config.apply_update(self.config, overrides, Dialect.GA)
            else:
                refused = RealtimeError(
                    f"realtime-mock: the scenario's session settings were not applied: "
                    f"'session.{where}' is not a finite number (JSON has no NaN or Infinity).",
                    "invalid_value",
                    f"session.{where}",
                )
        self._config_sizes = {k: len(WIRE_JSON.encode(v)) for k, v in self.config.items()}
        self._configure_vad()
        if self.options.max_duration_s is not None:
            self._expires_at = now + self.options.max_duration_s
        self._emit_session("session.created", session_config.encode(self.config, self.dialect))
        if refused is not None:
            self._error(refused)
        send_conversation = self.options.send_conversation_created
        if send_conversation is None:
            send_conversation = self.dialect is Dialect.BETA
        if send_conversation:
            self._emit(
                {
                    "type": "conversation.created",
                    "conversation": {"id": self.conversation_id, "object": "realtime.conversation"},
                }
            )
        if self.script is not None:
            try:
                self.script.attach(self, now)
            except Exception as exc:
                self._internal_error(exc, "starting the scenario")

    def receive(self, frame: str | bytes, now: float) -> None:
        """Feed one client frame; the output it causes is collected by :meth:`due`."""
        self._now = self._last_activity = now
        if self.closed is not None:
            return
        event = read_frame(frame)
        if isinstance(event, Malformed):
            self.transcript.add(self._t(), "client", event.label, raw=event.raw)
            self._find_mistake("malformed_frame", event.finding)
            self._error(event.error)
            return
        client_event_id = event_id_of(event)
        type_ = event.get("type")
        self.transcript.add(
            self._t(),
            "client",
            type_ if isinstance(type_, str) else "<no type>",
            event=_without_audio(event) if type_ in _CARRY_AUDIO else event,
        )
        try:
            if type_ is None:
                raise RealtimeError("The 'type' field is missing.", "invalid_event", "type")
            if not isinstance(type_, str):
                raise RealtimeError(
                    f"Invalid type for 'type': expected a string, but got {type(type_).__name__}.",
                    "invalid_type",
                    "type",
                )
            if type_ == "session.update" and len(frame) > MAX_SESSION_CONFIG_BYTES:
                # Refused before validation, whose cost grows with the size of the schemas.
                raise RealtimeError(
                    f"Invalid 'session': this update alone is {len(frame)} bytes of JSON, over "
                    f"the limit of {MAX_SESSION_CONFIG_BYTES} bytes (1 MiB) for a session's "
                    "configuration.",
                    "session_config_too_large",
                    "session",
                )
            try:
                self._validate(event)
            except RealtimeError:
                # A script may answer even an invalid event itself (a recorded refusal).
                if self.script is not None and self.script.on_rejected_event(event, self._now):
                    return
                raise
            self._dispatch(type_, event)
        except RealtimeError as error:
            self._find_mistake(
                "rejected_event",
                f"{type_ if isinstance(type_, str) else 'event'} rejected: {error}",
                client_event_id,
                code=error.code,
            )
            self._error(error.for_event(client_event_id))
        except Exception as exc:  # a bug of ours must not cost the client its session
            self._internal_error(exc, f"handling '{type_}'", client_event_id)

    def due(self, now: float) -> list[Output]:
        """All output whose time has come, in order.

        A bug of ours raised while the clock moves (an idle timeout's response, a script's
        poll) is contained here, as :meth:`receive` contains one raised by a client event: it
        becomes a ``server_error`` event and one logged traceback, and the session goes on.
        """
        self._now = now
        if self._stalled_until is not None:
            if now < self._stalled_until:
                return []
            self._stalled_until = None
        try:
            self._due(now)
        except Exception as exc:
            self._internal_error(exc, "advancing the clock")
        out, self._ready = self._ready, []
        return out

    def _internal_error(self, exc: Exception, doing: str, event_id: str | None = None) -> None:
        """Turn an exception of ours into a ``server_error`` event (must be called from an
        ``except`` block: the traceback is logged once, with the exception's)."""
        log.exception("realtime-mock: internal error %s", doing)
        self._error(
            RealtimeError(
                f"realtime-mock internal error while {doing}: {type(exc).__name__}: {exc}. "
                "Please report it with the transcript.",
                None,
                type="server_error",
                event_id=event_id,
            )
        )

    def _due(self, now: float) -> None:
        if self._expires_at is not None and now >= self._expires_at and self.closed is None:
            self.expire()
        if self._idle_deadline is not None and now >= self._idle_deadline and self.closed is None:
            self._idle_timeout()
        idle_close = self._idle_close_at()
        if idle_close is not None and now >= idle_close:
            self.close(
                1001,
                f"realtime-mock: no client event for {self.options.close_idle_after_s:g}s "
                "(close_idle_after)",
            )
        if self.script is not None and self.closed is None:
            self.script.poll(now)
        for run in self._runs_due(now):
            self._advance(run, now)
        if self.script is not None and self.closed is None:
            self.script.poll(now)  # steps waiting for a response that has just finished

    def next_deadline(self) -> float | None:
        """When :meth:`due` will next have something (None: only a client frame can cause it)."""
        if self._stalled_until is not None:
            return self._stalled_until
        if self._ready:
            return self._now
        while self._wakeups and self._wakeups[0][2] not in self._runs:
            heapq.heappop(self._wakeups)
        times = [self._wakeups[0][0]] if self._wakeups else []
        if self._expires_at is not None and self.closed is None:
            times.append(self._expires_at)
        if self._idle_deadline is not None and self.closed is None:
            times.append(self._idle_deadline)
        idle_close = self._idle_close_at()
        if idle_close is not None:
            times.append(idle_close)
        if self.script is not None and self.closed is None:
            try:
                deadline = self.script.next_deadline()
            except Exception as exc:
                # Reported in the next due(); the script is asked again at the next event.
                self._internal_error(exc, "asking the scenario for its next deadline")
                return self._now
            if deadline is not None:
                times.append(deadline)
        return min(times) if times else None

    def _runs_due(self, now: float) -> list[_ResponseRun]:
        """The active runs whose wake-up time has come, in creation order."""
        due = []
        while self._wakeups and self._wakeups[0][0] <= now:
            _, _, run = heapq.heappop(self._wakeups)
            if run in self._runs:
                due.append(run)
        due.sort(key=lambda run: run.seq)
        return due

    def _idle_close_at(self) -> float | None:
        """When the connection counts as idle (None: never, or a response is streaming)."""
        idle = self.options.close_idle_after_s
        if idle is None or self._runs or self.closed is not None:
            return None
        return self._last_activity + idle

    def refuse(self, code: str, message: str, now: float) -> None:
        """Refuse the session after the upgrade, as the live service does for a retired dialect
        or an unknown model: an ``error`` event, then close 4000 ``<type>.<code>``."""
        self._started_at = self._now = now
        self._error(RealtimeError(message, code))
        self.close(4000, f"invalid_request_error.{code}")

    def abandon(self) -> None:
        """The connection is gone: stop every response without emitting anything, and let the
        script go (it keeps only what its verdict needs, so a long-running server does not
        hold every ended session's audio through its scripts)."""
        self._cancel_all("client_cancelled", emit=False)
        if self.script is not None:
            try:
                self.script.detach()
            except Exception:  # the connection is gone: nothing to tell, but the log
                log.exception("realtime-mock: internal error letting the scenario go")

    def close(self, code: int, reason: str) -> None:
        """Ask the driver to close the connection (after what is already queued)."""
        self._cancel_all("client_cancelled", emit=False)
        self.closed = Close(code, reason)
        self._ready.append(self.closed)

    # ---- output --------------------------------------------------------------------------

    # ---- actions for scripts ------------------------------------------------------------

    def inject(self, event: dict[str, Any]) -> dict[str, Any]:
        """Send a server event as given (an ``event_id`` is added when it has none)."""
        wire = dict(event)
        given_id = wire.pop("event_id", None)
        sent = self._emit(wire)
        if given_id is not None:
            sent["event_id"] = given_id
            self._ready[-1] = ServerEvent(sent, WIRE_JSON.encode(sent))
        return sent

    def send_error(
        self,
        message: str,
        code: str | None = None,
        *,
        type_: str = "invalid_request_error",
        param: str | None = None,
        event_id: str | None = None,
    ) -> None:
        """Send an ``error`` event; the session goes on, as after most live errors."""
        self._error(RealtimeError(message, code, param, type_, event_id))

    def drop(self) -> None:
        """Cut the connection without a close frame, after what is already queued."""
        self._cancel_all("client_cancelled", emit=False)
        self.closed = Drop()
        self._ready.append(self.closed)

    def send_raw(self, data: str | bytes) -> None:
        """Send a frame as is: malformed or truncated traffic on purpose."""
        shown = data if isinstance(data, str) else f"<{len(data)} bytes>"
        self.transcript.add(self._t(), "server", "<raw>", raw=shown[:2000])
        self._ready.append(RawFrame(data))

    def stall(self, seconds: float) -> None:
        """Send nothing for ``seconds`` (client events are still taken in and answered later)."""
        self._stalled_until = self._now + seconds

    def create_response(self, plan: ResponsePlan, overrides: dict[str, Any] | None = None) -> str:
        """Start a response the client did not ask for (server-initiated); returns its id."""
        return self._start_response(overrides or {}, event_id=None, plan=plan)

    def _t(self) -> float:
        return self._now - self._started_at

    def _emit(
        self, event: dict[str, Any], *, recorded: dict[str, Any] | None = None
    ) -> dict[str, Any]:
        """Stamp, rename for the dialect, record and queue one server event; ``recorded``
        replaces fields in the transcript's copy only (a payload kept as its size)."""
        wire = {"event_id": self.ids.new("event"), **event}
        wire["type"] = wire_name(event["type"], self.dialect)
        return self._queue(
            wire, WIRE_JSON.encode(wire), None if recorded is None else {**wire, **recorded}
        )

    def _emit_sibling(self, sent: dict[str, Any], type_: str) -> dict[str, Any]:
        """:meth:`_emit` an event with the fields of ``sent`` (the event queued last) but its id
        and type: its JSON reuses the encoding of those fields (an item, the costly part)."""
        previous = self._ready[-1]
        assert isinstance(previous, ServerEvent) and previous.event is sent
        wire = {**sent, "event_id": self.ids.new("event"), "type": wire_name(type_, self.dialect)}
        # Ids and event names are plain ASCII: their JSON is the text between quotes.
        head = f'{{"event_id":"{sent["event_id"]}","type":"{sent["type"]}"'
        text = f'{{"event_id":"{wire["event_id"]}","type":"{wire["type"]}"'
        return self._queue(wire, text + previous.text[len(head) :])

    def _emit_session(self, type_: str, session: dict[str, Any]) -> dict[str, Any]:
        """:meth:`_emit` a ``session.created``/``.updated``: the JSON of each field the last
        such event carried unchanged (the same object: configurations are copied on write) is
        reused, so a small update to a session with a large tool list costs the update."""
        wire: dict[str, Any] = {
            "event_id": self.ids.new("event"),
            "type": wire_name(type_, self.dialect),
            "session": session,
        }
        previous = self._session_json
        parts: dict[str, tuple[Any, str]] = {}
        texts = []
        for key, value in session.items():
            known = previous.get(key)
            text = known[1] if known is not None and known[0] is value else WIRE_JSON.encode(value)
            parts[key] = (value, text)
            texts.append(f"{WIRE_JSON.encode(key)}:{text}")
        self._session_json = parts
        head = WIRE_JSON.encode({"event_id": wire["event_id"], "type": wire["type"]})
        return self._queue(wire, head[:-1] + ',"session":{' + ",".join(texts) + "}}")

    def _queue(
        self, wire: dict[str, Any], text: str, recorded: dict[str, Any] | None = None
    ) -> dict[str, Any]:
        for check in outbound_checks:
            check(wire, self.dialect)
        self.transcript.add(
            self._t(), "server", wire["type"], event=wire if recorded is None else recorded
        )
        self._ready.append(ServerEvent(wire, text))
        return wire

    def _error(self, error: RealtimeError) -> None:
        self._emit({"type": "error", "error": error.payload()})

    def _audio_warnings(self, warnings: list[tuple[str, str]], event_id: str | None) -> None:
        for kind, message in warnings:
            self._find_mistake(kind, message, event_id, severity="warning")

    def _find_mistake(
        self,
        kind: str,
        message: str,
        event_id: str | None = None,
        severity: str = "error",
        code: str | None = None,
    ) -> None:
        finding = Finding(kind, message, self._t(), event_id, severity, code)
        self.transcript.add(self._t(), "note", kind, note=message, finding=finding)
        self._finding_kinds.add(kind)

    def expire(self) -> None:
        """The session's maximum duration is reached: ``session_expired``, then close 1001."""
        message = expiry_message(self.options.max_duration_s or 0)
        self._cancel_all("client_cancelled", emit=False)
        self._error(RealtimeError(message, "session_expired"))
        self.closed = Close(1001, message)
        self._ready.append(self.closed)

    # ---- validation and dispatch ----------------------------------------------------------

    def _validate(self, event: dict[str, Any]) -> None:
        from mock_server.protocol.validation import validate_client_event

        error = validate_client_event(event, self.dialect)
        if error is not None:
            raise error

    def _dispatch(self, type_: str, event: dict[str, Any]) -> None:
        if self.script is not None and self.script.on_client_event(event, self._now):
            return
        handler = _HANDLERS.get(type_)
        if handler is None:  # validated types without behaviour of their own
            return
        handler(self, event)

    def _on_session_update(self, event: dict[str, Any]) -> None:
        update = event["session"]
        if self.dialect is Dialect.GA and update.get("type") != self.config.get("type"):
            raise RealtimeError(
                f"Cannot update a session of type '{self.config.get('type')}' to type "
                f"'{update.get('type')}'.",
                "invalid_value",
                "session.type",
            )
        model = update.get("model")
        if model is not None and model != self.config.get("model"):
            raise RealtimeError(
                "The model of a session cannot be changed once it has started.",
                "invalid_value",
                "session.model",
            )
        previous = self.config, self._vad, self._vad_item_id, self._config_sizes
        try:
            self.config = session_config.apply_update(self.config, update, self.dialect)
            self._config_sizes = self._check_config_size(previous[0])
            self._configure_vad()
            session = session_config.encode(self.config, self.dialect)
        except Exception as exc:
            # Nothing of a refused update is kept: a value the next update (or a response)
            # would trip over never reaches the stored configuration.
            self.config, self._vad, self._vad_item_id, self._config_sizes = previous
            if isinstance(exc, RealtimeError):
                raise
            log.exception("realtime-mock: session.update could not be applied")
            raise RealtimeError(
                f"Invalid 'session': the update could not be applied ({type(exc).__name__}: "
                f"{exc}); the session keeps its previous configuration.",
                "invalid_value",
                "session",
            ) from exc
        self._emit_session("session.updated", session)

    def _check_config_size(self, before: dict[str, Any]) -> dict[str, int]:
        """The encoded size of each top-level field of the new configuration, measuring only
        the fields this update replaced; over :data:`MAX_SESSION_CONFIG_BYTES` in all, the
        update is refused (each ``session.updated`` carries the whole configuration)."""
        sizes = dict(self._config_sizes)
        for key, value in self.config.items():
            if key not in sizes or before.get(key) is not value:
                sizes[key] = len(WIRE_JSON.encode(value))
        for key in [k for k in sizes if k not in self.config]:
            del sizes[key]
        total = sum(sizes.values())
        if total > MAX_SESSION_CONFIG_BYTES:
            largest = max(sizes, key=lambda k: sizes[k])
            raise RealtimeError(
                f"Invalid 'session': the configuration would be {total} bytes of JSON, over "
                f"the limit of {MAX_SESSION_CONFIG_BYTES} bytes (1 MiB); its largest field is "
                f"'{largest}' ({sizes[largest]} bytes).",
                "session_config_too_large",
                f"session.{largest}",
            )
        return sizes

    def _on_transcription_session_update(self, event: dict[str, Any]) -> None:
        session = copy.deepcopy(event["session"])
        session.setdefault("id", self.config.get("id"))
        session.setdefault("object", "realtime.transcription_session")
        self._emit({"type": "transcription_session.updated", "session": session})

    # ---- input audio buffer ---------------------------------------------------------------

    def input_format(self) -> str:
        return session_config.format_name(self.config["audio"]["input"].get("format"))

    def _on_append(self, event: dict[str, Any]) -> None:
        text = event["audio"]
        # Refused before it is decoded when its size alone says so: a client hammering a full
        # buffer with 15 MiB appends costs a length check each, not a decode.
        size = len(text) // 4 * 3 - text[-2:].count("=") if isinstance(text, str) else 0
        if len(self.input_buffer) + size > MAX_INPUT_BUFFER_BYTES >= size:
            self._refuse_full_buffer(size)
        try:
            # Strict decoding refuses what b64decode(validate=True) refuses, without its regex
            # pass over the whole text.
            chunk = binascii.a2b_base64(event["audio"], strict_mode=True)
        except (binascii.Error, ValueError) as exc:
            raise RealtimeError(
                f"Invalid 'audio': expected base64-encoded audio bytes ({exc}).",
                "invalid_value",
                "audio",
            ) from exc
        if len(chunk) > MAX_APPEND_BYTES:
            raise RealtimeError(
                f"Invalid 'audio': {len(chunk)} bytes is over the limit of "
                f"{MAX_APPEND_BYTES} bytes (15 MiB) per event.",
                "invalid_value",
                "audio",
            )
        if (
            "audio_in_text_only_session" not in self._finding_kinds
            and session_config.output_modalities(self.config) == ["text"]
        ):
            self._find_mistake(
                "audio_in_text_only_session",
                "input audio appended in a session whose output_modalities is ['text']",
                event.get("event_id"),
                severity="warning",
            )
        fmt = self.input_format()
        if len(self.input_buffer) + len(chunk) > MAX_INPUT_BUFFER_BYTES:
            self._refuse_full_buffer(len(chunk))
        self._audio_warnings(
            self.audio_diagnostics.on_append(chunk, fmt, self._now), event.get("event_id")
        )
        self.input_buffer.extend(chunk)
        self.audio_written_ms += len(chunk) / BYTES_PER_MS[fmt]
        if self._vad is not None:
            self._feed_vad(chunk, fmt)
            if not self._vad.in_speech:
                self._drop_unspeakable_audio(fmt)

    def _refuse_full_buffer(self, size: int) -> None:
        fmt = self.input_format()
        raise RealtimeError(
            f"Error appending to input audio buffer: it holds {len(self.input_buffer)} bytes, "
            f"and {size} more would take it over its limit of {MAX_INPUT_BUFFER_BYTES} bytes "
            f"(15 MiB, {MAX_INPUT_BUFFER_BYTES / BYTES_PER_MS[fmt] / 1000:.0f} s of {fmt}). "
            "Commit or clear the buffer first; this audio was not added.",
            "input_audio_buffer_full",
            "audio",
        )

    def _drop_unspeakable_audio(self, fmt: str) -> None:
        """With server VAD and no speech going on, only the prefix padding and the audio that
        may still start speech can become part of a turn: older audio is let go, so that
        silence streamed all session does not fill the buffer (docs/protocol-notes.md)."""
        keep = round((self._prefix_padding_ms() + self._vad.undecided_ms) * BYTES_PER_MS[fmt])
        # Only once it is twice as long: one memmove of the kept tail per many appends.
        if len(self.input_buffer) > 2 * keep + 4800:
            del self.input_buffer[: len(self.input_buffer) - keep]

    def _prefix_padding_ms(self) -> int:
        return int(self._vad.config.prefix_padding_ms) if self._vad is not None else 0

    def _on_commit(self, event: dict[str, Any]) -> None:
        fmt = self.input_format()
        buffered_ms = len(self.input_buffer) / BYTES_PER_MS[fmt]
        if buffered_ms < MIN_COMMIT_MS:
            raise RealtimeError(
                "Error committing input audio buffer: buffer too small. Expected at least "
                f"{MIN_COMMIT_MS}ms of audio, but buffer only has {buffered_ms:.2f}ms of audio.",
                "input_audio_buffer_commit_empty",
            )
        # A manual commit mid-speech ends the speech: its item is the one speech_started named.
        self._commit_buffer(self._interrupt_speech() or self.ids.new("item"))

    def _commit_buffer(self, item_id: str) -> dict[str, Any]:
        # The buffer itself becomes the item's audio: a commit copies nothing.
        audio, self.input_buffer = self.input_buffer, bytearray()
        self._audio_warnings(self.audio_diagnostics.on_commit(audio, self.input_format()), None)
        if self._vad is not None:
            self._vad.reset()
        previous = self.items[-1]["id"] if self.items else None
        self._emit(
            {
                "type": "input_audio_buffer.committed",
                "previous_item_id": previous,
                "item_id": item_id,
            }
        )
        item = {
            "id": item_id,
            "object": "realtime.item",
            "type": "message",
            "status": "completed",
            "role": "user",
            "content": [{"type": "input_audio", "transcript": None}],
        }
        self._item_audio[item_id] = audio
        self._audio_added(item_id, len(audio))
        self._insert_item(item, previous)
        if self.config["audio"]["input"].get("transcription"):
            self._transcribe(item, bytes(audio))
        return item

    def _transcribe(self, item: dict[str, Any], audio: bytes) -> None:
        transcriber = self.options.transcriber
        text = None
        given = self.script.transcribe(audio) if self.script is not None else None
        if isinstance(given, RealtimeError):
            self._emit(
                {
                    "type": "conversation.item.input_audio_transcription.failed",
                    "item_id": item["id"],
                    "content_index": 0,
                    "error": {
                        "type": given.type,
                        "code": given.code,
                        "message": given.message,
                        "param": given.param,
                    },
                }
            )
            return
        if isinstance(given, str):
            text = given
        elif transcriber is not None:
            fmt = self.input_format()
            if fmt != "pcm16":
                from mock_server import audio as audio_module

                pcm = audio_module.from_format(audio, fmt)
            else:
                pcm = audio[: len(audio) // 2 * 2]
            text = transcriber(pcm)
        if text is None:
            ms = len(audio) / BYTES_PER_MS[self.input_format()]
            text = f"[realtime-mock: untranscribed audio, {ms / 1000:.1f} s]"
        item["content"][0]["transcript"] = text
        self._emit(
            {
                "type": "conversation.item.input_audio_transcription.delta",
                "item_id": item["id"],
                "content_index": 0,
                "delta": text,
            }
        )
        self._emit(
            {
                "type": "conversation.item.input_audio_transcription.completed",
                "item_id": item["id"],
                "content_index": 0,
                "transcript": text,
                "usage": {
                    "type": "duration",
                    "seconds": round(len(audio) / BYTES_PER_MS[self.input_format()] / 1000, 3),
                },
            }
        )

    def _on_clear(self, event: dict[str, Any]) -> None:
        self._interrupt_speech()
        self.input_buffer = bytearray()  # a new one: the old one's memory goes at once
        self._emit({"type": "input_audio_buffer.cleared"})

    def _interrupt_speech(self) -> str | None:
        """End the speech the VAD is in (docs/protocol-notes.md): ``speech_stopped`` for its
        item, so that no ``speech_started`` is left open; returns that item's id."""
        if self._vad is None:
            return None
        stopped = self._vad.interrupt()
        item_id, self._vad_item_id = self._vad_item_id, None
        if stopped is None or item_id is None:
            return None
        self._emit(
            {
                "type": "input_audio_buffer.speech_stopped",
                "audio_end_ms": stopped.audio_end_ms,
                "item_id": item_id,
            }
        )
        return item_id

    def _on_output_clear(self, event: dict[str, Any]) -> None:
        # Only WebRTC/SIP have a server-side output buffer; over WebSocket the live service
        # accepts the event and has nothing to clear.
        return

    # ---- server VAD -----------------------------------------------------------------------

    def _configure_vad(self) -> None:
        turn = session_config.turn_detection(self.config)
        if turn is None:
            self._interrupt_speech()
            self._vad = None
            return
        try:
            from mock_server import vad as vad_module
        except ImportError:  # pragma: no cover - vad.py ships with the package
            self._vad = None
            return
        if turn.get("type") == "semantic_vad":
            cfg = vad_module.ServerVad.for_semantic(str(turn.get("eagerness", "auto")))
        else:
            cfg = vad_module.VadConfig(
                threshold=float(turn.get("threshold", 0.5)),
                prefix_padding_ms=int(turn.get("prefix_padding_ms", 300)),
                silence_duration_ms=int(turn.get("silence_duration_ms", 500)),
            )
        offset = round(self.audio_written_ms)
        if self._vad is not None and self._vad.config == cfg:
            return
        self._interrupt_speech()
        self._vad = vad_module.ServerVad(cfg, offset_ms=offset)
        self._vad_item_id = None

    def _feed_vad(self, chunk: bytes, fmt: str) -> None:
        if fmt == "pcm16":
            pcm = chunk
        else:
            from mock_server import audio as audio_module

            pcm = audio_module.from_format(chunk, fmt)
        vad_events = self._vad.feed(pcm)
        if not vad_events:
            return  # the usual case, on every append: nothing more to look up
        from mock_server import vad as vad_module

        turn = session_config.turn_detection(self.config) or {}
        for vad_event in vad_events:
            if isinstance(vad_event, vad_module.SpeechStarted):
                # The turn starts at the speech minus the prefix padding: nothing before it.
                keep_ms = self._vad.position_ms - vad_event.audio_start_ms
                keep = round((keep_ms + self._prefix_padding_ms()) * BYTES_PER_MS[fmt])
                if len(self.input_buffer) > keep:
                    del self.input_buffer[: len(self.input_buffer) - keep]
                self._idle_deadline = None
                self._vad_item_id = self.ids.new("item")
                self._emit(
                    {
                        "type": "input_audio_buffer.speech_started",
                        "audio_start_ms": vad_event.audio_start_ms,
                        "item_id": self._vad_item_id,
                    }
                )
                if turn.get("interrupt_response", True):
                    self._cancel_all("turn_detected", in_conversation_only=True)
            else:
                item_id = self._vad_item_id or self.ids.new("item")
                self._vad_item_id = None
                self._emit(
                    {
                        "type": "input_audio_buffer.speech_stopped",
                        "audio_end_ms": vad_event.audio_end_ms,
                        "item_id": item_id,
                    }
                )
                self._commit_buffer(item_id)
                if turn.get("create_response", True) and self.config.get("type") == "realtime":
                    self._start_response({}, event_id=None)

    def _idle_timeout(self) -> None:
        """``idle_timeout_ms`` passed without speech: commit (empty) audio and respond."""
        self._idle_deadline = None
        item_id = self.ids.new("item")
        position = round(self.audio_written_ms)
        self._emit(
            {
                "type": "input_audio_buffer.timeout_triggered",
                "item_id": item_id,
                "audio_start_ms": position,
                "audio_end_ms": position,
            }
        )
        self._commit_buffer(item_id)
        if self.active_response_id() is None:
            try:
                self._start_response({}, event_id=None)
            except RealtimeError as error:  # e.g. a forced tool's schema: said, not raised
                self._error(error)

    # ---- conversation items ---------------------------------------------------------------

    def _find(self, item_id: str) -> int | None:
        """The position of an item; searched from the end, where new items are."""
        if item_id not in self._item_ids:
            return None
        for position in range(len(self.items) - 1, -1, -1):
            if self.items[position]["id"] == item_id:
                return position
        return None  # pragma: no cover - the index and the list move together

    def _insert_item(self, item: dict[str, Any], previous_id: str | None) -> None:
        if previous_id is None:
            position = len(self.items)
        elif previous_id == "root":
            position = 0
        else:
            found = self._find(previous_id)
            position = len(self.items) if found is None else found + 1
        self.items.insert(position, item)
        self._item_ids.add(item["id"])
        previous = self.items[position - 1]["id"] if position > 0 else None
        encoded = item_codec.encode(item, self.dialect)
        if self.dialect is Dialect.GA:
            added = self._emit(
                {"type": "conversation.item.added", "previous_item_id": previous, "item": encoded}
            )
            self._emit_sibling(added, "conversation.item.done")
        else:
            self._emit(
                {"type": "conversation.item.created", "previous_item_id": previous, "item": encoded}
            )

    def _on_item_create(self, event: dict[str, Any]) -> None:
        previous = event.get("previous_item_id")
        if previous is not None and previous != "root" and self._find(previous) is None:
            raise RealtimeError(
                f"Error adding item: the previous item with id '{previous}' does not exist.",
                "invalid_value",
                "previous_item_id",
            )
        item = item_codec.from_client(event["item"], self.dialect, self.ids)
        if item.get("type") == "function_call_output":
            call_id = item.get("call_id", "")
            if call_id not in self._issued_calls:
                self._find_mistake(
                    "unknown_call_id",
                    f"function_call_output for call_id {call_id!r}, which the model never "
                    f"issued (issued: {sorted(self._issued_calls) or 'none'})",
                    event.get("event_id"),
                )
            self._pending_calls.pop(call_id, None)
        if self._find(item["id"]) is not None:
            raise RealtimeError(
                f"Error adding item: an item with id '{item['id']}' already exists.",
                "invalid_value",
                "item.id",
            )
        if item.get("type") == "message" and item.get("role") == "assistant":
            for part in item.get("content") or []:
                if part.get("type") == "output_audio" and part.get("audio"):
                    raise RealtimeError(
                        "Assistant messages cannot carry audio: use a text part.",
                        "invalid_value",
                        "item.content",
                    )
        size = self._check_room(item)
        for part in item.get("content") or []:
            if part.get("type") == "input_audio" and isinstance(part.get("audio"), str):
                try:
                    raw = base64.b64decode(part["audio"], validate=True)
                except (binascii.Error, ValueError) as exc:
                    raise RealtimeError(
                        "Invalid 'item.content.audio': expected base64-encoded audio bytes.",
                        "invalid_value",
                        "item.content.audio",
                    ) from exc
                self._item_audio.setdefault(item["id"], bytearray()).extend(raw)
                self._audio_added(item["id"], len(raw))
                part["audio"] = None
        self._insert_item(item, previous)
        self._client_sizes[item["id"]] = size
        self._client_parts += size[0]
        self._client_text += size[1]

    def _check_room(self, item: dict[str, Any]) -> tuple[int, int]:
        """Refuse ``item`` if the conversation would outgrow its bounds (see
        :data:`MAX_CONVERSATION_ITEMS`); else its size (parts, characters), which the caller
        counts in when it inserts the item. The totals are kept as items come and go, so the
        check costs the same in a long conversation."""
        adds_parts = len(item.get("content") or [])
        adds_text = len(item_codec.text_of(item))
        for what, now, adds, bound in (
            ("items", len(self.items), 1, MAX_CONVERSATION_ITEMS),
            ("content parts", self._client_parts, adds_parts, MAX_CONVERSATION_PARTS),
            ("characters of text", self._client_text, adds_text, MAX_CONVERSATION_TEXT),
        ):
            if now + adds > bound:
                raise RealtimeError(
                    f"The conversation holds {now:,} {what}; this item would take it past "
                    f"{bound:,}, the most realtime-mock keeps in one session. Delete items "
                    "(conversation.item.delete) or start a new session.",
                    "conversation_too_large",
                    "item",
                )
        return adds_parts, adds_text

    def _require_item(self, item_id: str, action: str) -> int:
        index = self._find(item_id)
        if index is None:
            raise RealtimeError(
                f"Error {action} item: the item with id '{item_id}' does not exist.",
                f"item_{_ACTION_CODES[action]}_invalid_item_id",
                "item_id",
            )
        return index

    def _on_item_retrieve(self, event: dict[str, Any]) -> None:
        item = self.items[self._require_item(event["item_id"], "retrieving")]
        encoded = item_codec.encode(item, self.dialect, with_audio=True)
        audio = self._item_audio.get(item["id"])
        content = encoded.get("content") or []
        audio_parts = [n for n, part in enumerate(content) if part.get("type") in _AUDIO_PART_TYPES]
        if not audio or not audio_parts:
            self._emit({"type": "conversation.item.retrieved", "item": encoded})
            return
        # The item's audio is encoded once, straight into the frame's text (base64 needs no
        # JSON escaping); the transcript keeps its size, since the session holds the audio.
        payload = binascii.b2a_base64(audio, newline=False).decode("ascii")
        placeholder = elided(len(payload), f"item {item['id']}'s audio")
        for n in audio_parts:
            content[n] = {**content[n], "audio": placeholder}
        recorded = {
            "event_id": self.ids.new("event"),
            "type": wire_name("conversation.item.retrieved", self.dialect),
            "item": encoded,
        }
        sent_content = [
            {**part, "audio": payload} if n in audio_parts else part
            for n, part in enumerate(content)
        ]
        wire = {**recorded, "item": {**encoded, "content": sent_content}}
        text = WIRE_JSON.encode(recorded).replace(f'"{placeholder}"', f'"{payload}"')
        self._queue(wire, text, recorded)

    def _audio_added(self, item_id: str, size: int) -> None:
        """Count audio ``item_id`` took on; past the conversation's cap, let the oldest other
        items' audio go (they stay items: retrieve returns them without audio)."""
        self._audio_held += size
        if self._audio_held <= MAX_CONVERSATION_AUDIO_BYTES:
            return
        released = 0
        while self._audio_held > MAX_CONVERSATION_AUDIO_BYTES:
            oldest = iter(self._item_audio)
            victim = next(oldest, None)
            if victim == item_id:
                victim = next(oldest, None)
            if victim is None:
                break
            self._audio_held -= len(self._item_audio.pop(victim))
            released += 1
        if AUDIO_RELEASED not in self._finding_kinds:
            self._finding_kinds.add(AUDIO_RELEASED)
            self.transcript.add(
                self._t(),
                "note",
                AUDIO_RELEASED,
                note=f"the conversation holds {MAX_CONVERSATION_AUDIO_BYTES} bytes of audio at "
                f"most: the audio of its {released} oldest item(s) was let go",
            )

    def _streaming_run(self, item_id: str) -> _ResponseRun | None:
        """The response still streaming this item, if any."""
        return next(
            (r for r in self._runs if r.current is not None and r.current["id"] == item_id), None
        )

    def _on_item_delete(self, event: dict[str, Any]) -> None:
        self._require_item(event["item_id"], "deleting")
        run = self._streaming_run(event["item_id"])
        if run is not None:
            # No delta may follow for an item that is gone: the response stops first (its
            # closing events still name the item), then the item goes.
            self._cancel(run, "client_cancelled")
        item = self.items.pop(self._require_item(event["item_id"], "deleting"))
        self._item_ids.discard(item["id"])
        parts, text = self._client_sizes.pop(item["id"], (0, 0))
        self._client_parts -= parts
        self._client_text -= text
        self._audio_held -= len(self._item_audio.pop(item["id"], b""))
        self._item_format.pop(item["id"], None)
        self._emit({"type": "conversation.item.deleted", "item_id": item["id"]})

    def _on_item_truncate(self, event: dict[str, Any]) -> None:
        item = self.items[self._require_item(event["item_id"], "truncating")]
        if item.get("role") != "assistant" or item.get("type") != "message":
            raise RealtimeError(
                "Only assistant messages can be truncated.", "invalid_value", "item_id"
            )
        content_index = event["content_index"]
        content = item.get("content") or []
        if not (0 <= content_index < len(content)) or content[content_index].get("type") not in (
            "output_audio",
        ):
            raise RealtimeError(
                f"Content index {content_index} of item '{item['id']}' is not audio.",
                "invalid_value",
                "content_index",
            )
        audio = self._item_audio.get(item["id"], bytearray())
        # The item's own format: the session's may have changed since it was spoken.
        fmt = self._item_format.get(item["id"]) or session_config.format_name(
            self.config["audio"].get("output", {}).get("format")
        )
        duration_ms = len(audio) / BYTES_PER_MS[fmt]
        end_ms = event["audio_end_ms"]
        if end_ms > duration_ms:
            raise RealtimeError(
                f"Audio content of {duration_ms:.0f}ms is already shorter than {end_ms}ms",
                "invalid_value",
                "audio_end_ms",
            )
        cut = int(end_ms * BYTES_PER_MS[fmt])
        self._audio_held -= max(0, len(audio) - cut)
        del audio[cut:]
        # Truncating removes the server-side transcript, so that the model's context holds no
        # text the user never heard.
        content[content_index]["transcript"] = None
        self._emit(
            {
                "type": "conversation.item.truncated",
                "item_id": item["id"],
                "content_index": content_index,
                "audio_end_ms": end_ms,
            }
        )
        run = self._streaming_run(item["id"])
        if run is not None:
            # The rest of the item's audio and transcript would contradict the cut (and
            # extend the audio past it): the response stops there, as on a cancel.
            self._cancel(run, "client_cancelled")

    # ---- responses -------------------------------------------------------------------------

    def _on_response_create(self, event: dict[str, Any]) -> None:
        overrides = event.get("response") or {}
        if self._pending_calls and overrides.get("conversation", "auto") != "none":
            pending = ", ".join(f"{name} ({cid})" for cid, name in self._pending_calls.items())
            self._find_mistake(
                "pending_function_call",
                f"response.create while function calls await their output: {pending}",
                event.get("event_id"),
            )
        self._start_response(overrides, event_id=event.get("event_id"))

    def _on_response_cancel(self, event: dict[str, Any]) -> None:
        wanted = event.get("response_id")
        runs = [r for r in self._runs if wanted is None or r.id == wanted]
        if wanted is None:
            runs = [r for r in runs if r.in_conversation] or runs
        if not runs:
            raise RealtimeError(
                "Cancellation failed: no active response found", "response_cancel_not_active"
            )
        self._cancel(runs[0], "client_cancelled")

    def active_response_id(self) -> str | None:
        return next((r.id for r in self._runs if r.in_conversation), None)

    def _start_response(
        self,
        overrides: dict[str, Any],
        event_id: str | None,
        plan: ResponsePlan | None = None,
    ) -> str:
        if self.config.get("type") == "transcription":
            raise RealtimeError(
                "Responses cannot be created in a transcription session.",
                "invalid_value",
                "type",
            )
        in_conversation = overrides.get("conversation", "auto") != "none"
        if not in_conversation:
            side = [r.id for r in self._runs if not r.in_conversation]
            if len(side) >= MAX_OUT_OF_BAND_RESPONSES:
                raise RealtimeError(
                    f"There are already {len(side)} out-of-band responses in progress "
                    f"({', '.join(side)}), the most this session allows "
                    f"({MAX_OUT_OF_BAND_RESPONSES}). Wait until one finishes, or cancel one, "
                    "before creating another.",
                    "too_many_active_responses",
                )
        active = self.active_response_id()
        if in_conversation and active is not None:
            raise RealtimeError(
                f"Conversation already has an active response in progress: {active}. Wait "
                "until the response is finished before creating a new one.",
                "conversation_already_has_active_response",
            )
        cfg = self.config
        if self.dialect is Dialect.GA:
            modalities = overrides.get("output_modalities") or cfg.get("output_modalities")
            audio_out = (overrides.get("audio") or {}).get("output") or {}
            output_format = session_config.format_name(
                audio_out.get("format") or cfg["audio"]["output"].get("format")
            )
            voice = audio_out.get("voice") or cfg["audio"]["output"].get("voice")
            max_tokens = overrides.get("max_output_tokens", cfg.get("max_output_tokens", "inf"))
        else:
            beta_modalities = overrides.get("modalities")
            modalities = (
                session_config.ga_modalities(beta_modalities)
                if beta_modalities
                else cfg.get("output_modalities")
            )
            output_format = overrides.get("output_audio_format") or session_config.format_name(
                cfg["audio"]["output"].get("format")
            )
            voice = overrides.get("voice") or cfg["audio"]["output"].get("voice")
            max_tokens = overrides.get(
                "max_response_output_tokens", cfg.get("max_output_tokens", "inf")
            )
        context = list(self.items)  # read-only for responders
        if isinstance(overrides.get("input"), list):
            context = [
                item_codec.from_client(i, self.dialect, self.ids) for i in overrides["input"]
            ]
        request = ResponseRequest(
            context=context,
            tools=overrides.get("tools", cfg.get("tools") or []),
            tool_choice=overrides.get("tool_choice", cfg.get("tool_choice", "auto")),
            output_modalities=list(modalities or ["audio"]),
            instructions=overrides.get("instructions", cfg.get("instructions", "")),
        )
        if in_conversation:
            self._idle_deadline = None
        if plan is None and self.script is not None:
            plan = self.script.plan_response(request)
        if plan is None:
            plan = self.responder.respond(request)
        run = _ResponseRun(
            id=self.ids.new("resp"),
            plan=plan,
            in_conversation=in_conversation,
            modalities=list(modalities or ["audio"]),
            output_format=output_format,
            voice=voice,
            metadata=overrides.get("metadata"),
            max_output_tokens=max_tokens,
            wake_at=self._now,
            seq=next(self._run_seq),
        )
        run.stream = self._stream_response(run)
        self._runs.append(run)
        # Emit what is due now, so that response.created precedes anything a later client
        # event causes.
        self._advance(run, self._now)
        return run.id

    def _advance(self, run: _ResponseRun, now: float) -> None:
        assert run.stream is not None
        while run in self._runs and run.wake_at <= now:
            try:
                pause = next(run.stream)
            except StopIteration:
                if run in self._runs:
                    self._runs.remove(run)
                return
            except Exception as exc:
                # The client still gets its response.done (failed), not a response that
                # never ends; the session goes on.
                self._internal_error(exc, f"streaming response {run.id}")
                if run in self._runs:
                    self._stop(
                        run,
                        "failed",
                        {
                            "type": "failed",
                            "error": {"type": "server_error", "code": None, "message": str(exc)},
                        },
                    )
                return
            if pause > 0:
                run.wake_at += pause
        if run in self._runs:
            heapq.heappush(self._wakeups, (run.wake_at, run.seq, run))
            if len(self._wakeups) > 2 * len(self._runs) + 16:
                # Runs cancelled before their wake-up left entries behind: drop them.
                self._wakeups = [entry for entry in self._wakeups if entry[2] in self._runs]
                heapq.heapify(self._wakeups)

    def _pause(self, seconds: float) -> float:
        return seconds * self.options.pace

    def _response_object(self, run: _ResponseRun, status: str) -> dict[str, Any]:
        response: dict[str, Any] = {
            "id": run.id,
            "object": "realtime.response",
            "status": status,
            "status_details": None,
            "output": [],
            "conversation_id": self.conversation_id if run.in_conversation else None,
            "max_output_tokens": run.max_output_tokens,
            "metadata": run.metadata,
            "usage": None,
        }
        if self.dialect is Dialect.GA:
            response["output_modalities"] = run.modalities
            response["audio"] = {
                "output": {
                    "format": session_config.ga_format(run.output_format),
                    "voice": run.voice,
                }
            }
        else:
            response["modalities"] = session_config.beta_modalities(run.modalities)
            response["voice"] = run.voice
            response["output_audio_format"] = run.output_format
            response["temperature"] = self.config.get("temperature", 0.8)
        return response

    def _stream_response(self, run: _ResponseRun) -> Generator[Pause, None, None]:
        self._emit(
            {"type": "response.created", "response": self._response_object(run, "in_progress")}
        )
        self._emit_rate_limits()
        for index, output in enumerate(run.plan.outputs):
            if isinstance(output, FunctionCallOutput):
                yield from self._stream_function_call(run, index, output)
            else:
                yield from self._stream_message(run, index, output)
        status = run.plan.status
        details: dict[str, Any] | None = None
        if status != "completed" or run.plan.reason:
            details = {"type": status}
            if run.plan.reason:
                details["reason"] = run.plan.reason
            if run.plan.error:
                details["error"] = run.plan.error
        self._finish(run, status, details)

    def _open_item(self, run: _ResponseRun, index: int, item: dict[str, Any]) -> None:
        run.current = item
        self._emit(
            {
                "type": "response.output_item.added",
                "response_id": run.id,
                "output_index": index,
                "item": item_codec.encode(item, self.dialect),
            }
        )
        if run.in_conversation:
            previous = self.items[-1]["id"] if self.items else None
            self.items.append(item)
            self._item_ids.add(item["id"])
            encoded = item_codec.encode(item, self.dialect)
            name = (
                "conversation.item.added"
                if self.dialect is Dialect.GA
                else ("conversation.item.created")
            )
            self._emit({"type": name, "previous_item_id": previous, "item": encoded})

    def _close_item(self, run: _ResponseRun, index: int, status: str) -> None:
        item = run.current
        assert item is not None
        item["status"] = status
        run.output.append(item)
        encoded = item_codec.encode(item, self.dialect)
        self._emit(
            {
                "type": "response.output_item.done",
                "response_id": run.id,
                "output_index": index,
                "item": encoded,
            }
        )
        if run.in_conversation and self.dialect is Dialect.GA:
            position = self._find(item["id"])
            previous = self.items[position - 1]["id"] if position else None
            self._emit(
                {"type": "conversation.item.done", "previous_item_id": previous, "item": encoded}
            )
        run.current = None
        run.current_kind = None

    def _stream_message(
        self, run: _ResponseRun, index: int, output: MessageOutput
    ) -> Generator[Pause, None, None]:
        with_audio = "audio" in run.modalities
        text = output.text
        if (
            isinstance(run.max_output_tokens, int)
            and _estimate_tokens(text) > run.max_output_tokens
        ):
            text = text[: run.max_output_tokens * 4]
            run.plan.status = "incomplete"
            run.plan.reason = "max_output_tokens"
        item_id = self.ids.new("item")
        item: dict[str, Any] = {
            "id": item_id,
            "object": "realtime.item",
            "type": "message",
            "status": "in_progress",
            "role": "assistant",
            "content": [],
        }
        self._open_item(run, index, item)
        part_key = "transcript" if with_audio else "text"
        content = {"type": "output_audio" if with_audio else "output_text", part_key: ""}
        item["content"].append(content)
        run.current_kind = "audio" if with_audio else "text"
        where = {
            "response_id": run.id,
            "item_id": item_id,
            "output_index": index,
            "content_index": 0,
        }
        part_type = "audio" if with_audio else "text"
        self._emit(
            {
                "type": "response.content_part.added",
                **where,
                "part": {"type": part_type, part_key: ""},
            }
        )
        words = _split_words(text)
        if with_audio:
            store = self._item_audio.setdefault(item_id, bytearray())
            self._item_format[item_id] = run.output_format
            chunk_bytes = AUDIO_CHUNK_MS * BYTES_PER_MS[run.output_format]
            chunks: Iterable[bytes]
            if output.audio is not None:
                data = self._encode_output_audio(output.audio, run.output_format)
                count = math.ceil(len(data) / chunk_bytes)
                chunks = _pieces([data], chunk_bytes)
            else:
                # Made a chunk at a time as the response streams: a long reply's audio is
                # never computed (or held) whole before its first delta.
                pcm_chunk = AUDIO_CHUNK_MS * BYTES_PER_MS["pcm16"]
                count = math.ceil(placeholder_speech_length(text) / pcm_chunk)
                chunks = (
                    self._encode_output_audio(pcm, run.output_format)
                    for pcm in _pieces(placeholder_speech_chunks(text), pcm_chunk)
                )
            # Transcript deltas interleave with the audio, spread evenly over its chunks.
            per_chunk = math.ceil(len(words) / max(count, 1)) if words else 0
            for n, chunk in enumerate(chunks):
                for word in words[n * per_chunk : (n + 1) * per_chunk]:
                    content["transcript"] += word
                    self._emit(
                        {"type": "response.output_audio_transcript.delta", **where, "delta": word}
                    )
                store.extend(chunk)
                self._audio_added(item_id, len(chunk))
                delta = binascii.b2a_base64(chunk, newline=False).decode("ascii")
                held = self.transcript.hold(self._t(), delta, "model audio")
                self._emit(
                    {"type": "response.output_audio.delta", **where, "delta": delta},
                    recorded=None if held is delta else {"delta": held},
                )
                pause = self._pause(len(chunk) / BYTES_PER_MS[run.output_format] / 1000)
                if pause > 0:
                    yield pause
            self._emit({"type": "response.output_audio.done", **where})
            self._emit(
                {
                    "type": "response.output_audio_transcript.done",
                    **where,
                    "transcript": content["transcript"],
                }
            )
        else:
            for word in words:
                content["text"] += word
                self._emit({"type": "response.output_text.delta", **where, "delta": word})
                pause = self._pause(TEXT_DELTA_S)
                if pause > 0:
                    yield pause
            self._emit({"type": "response.output_text.done", **where, "text": content["text"]})
        self._emit(
            {
                "type": "response.content_part.done",
                **where,
                "part": {"type": part_type, part_key: content[part_key]},
            }
        )
        done_status = "incomplete" if run.plan.status == "incomplete" else "completed"
        self._close_item(run, index, done_status)

    def _stream_function_call(
        self, run: _ResponseRun, index: int, output: FunctionCallOutput
    ) -> Generator[Pause, None, None]:
        item_id = self.ids.new("item")
        call_id = output.call_id or self.ids.new("call")
        self._issued_calls.add(call_id)
        self._pending_calls[call_id] = output.name
        item: dict[str, Any] = {
            "id": item_id,
            "object": "realtime.item",
            "type": "function_call",
            "status": "in_progress",
            "name": output.name,
            "call_id": call_id,
            "arguments": "",
        }
        self._open_item(run, index, item)
        run.current_kind = "function_call"
        where = {
            "response_id": run.id,
            "item_id": item_id,
            "output_index": index,
            "call_id": call_id,
        }
        for piece in _split_arguments(output.arguments):
            item["arguments"] += piece
            self._emit({"type": "response.function_call_arguments.delta", **where, "delta": piece})
            pause = self._pause(TEXT_DELTA_S)
            if pause > 0:
                yield pause
        done: dict[str, Any] = {
            "type": "response.function_call_arguments.done",
            **where,
            "arguments": item["arguments"],
        }
        if self.dialect is Dialect.GA:
            done["name"] = output.name
        self._emit(done)
        self._close_item(run, index, "completed")

    def _encode_output_audio(self, pcm: bytes, output_format: str) -> bytes:
        if output_format == "pcm16":
            return pcm
        from mock_server import audio as audio_module

        return audio_module.to_format(pcm, output_format)

    def _emit_rate_limits(self) -> None:
        self._rate_remaining["requests"] = max(0, self._rate_remaining["requests"] - 1)
        self._rate_remaining["tokens"] = max(0, self._rate_remaining["tokens"] - 4096)
        self._emit(
            {
                "type": "rate_limits.updated",
                "rate_limits": [
                    {
                        "name": "requests",
                        "limit": 5000,
                        "remaining": self._rate_remaining["requests"],
                        "reset_seconds": 0.012,
                    },
                    {
                        "name": "tokens",
                        "limit": 40000,
                        "remaining": self._rate_remaining["tokens"],
                        "reset_seconds": 6.144,
                    },
                ],
            }
        )
        # The reservation is given back when the response ends.
        self._rate_remaining["tokens"] = min(40000, self._rate_remaining["tokens"] + 4096)

    def _usage(self, run: _ResponseRun) -> dict[str, Any]:
        if run.plan.usage is not None:
            return run.plan.usage
        context_text = " ".join(item_codec.text_of(i) for i in self.items)
        input_audio_tokens = sum(
            math.ceil(len(self._item_audio.get(i["id"], b"")) / 4800)
            for i in self.items
            if i.get("role") == "user"
        )
        input_text = _estimate_tokens(context_text) + 120
        output_text = sum(_estimate_tokens(item_codec.text_of(i)) for i in run.output)
        output_audio = sum(
            math.ceil(len(self._item_audio.get(i["id"], b"")) / 2400) for i in run.output
        )
        input_details: dict[str, Any] = {
            "text_tokens": input_text,
            "audio_tokens": input_audio_tokens,
            "cached_tokens": 0,
        }
        if self.dialect is Dialect.GA:
            input_details["image_tokens"] = 0
            input_details["cached_tokens_details"] = {
                "text_tokens": 0,
                "audio_tokens": 0,
                "image_tokens": 0,
            }
        inputs = input_text + input_audio_tokens
        outputs = output_text + output_audio
        return {
            "total_tokens": inputs + outputs,
            "input_tokens": inputs,
            "output_tokens": outputs,
            "input_token_details": input_details,
            "output_token_details": {"text_tokens": output_text, "audio_tokens": output_audio},
        }

    def _finish(self, run: _ResponseRun, status: str, details: dict[str, Any] | None) -> None:
        response = self._response_object(run, status)
        response["status_details"] = details
        response["output"] = [item_codec.encode(i, self.dialect) for i in run.output]
        response["usage"] = self._usage(run)
        if run in self._runs:
            self._runs.remove(run)
        self._last_activity = self._now
        self._emit({"type": "response.done", "response": response})
        turn = session_config.turn_detection(self.config) or {}
        idle_ms = turn.get("idle_timeout_ms")
        if run.in_conversation and isinstance(idle_ms, int) and self.dialect is Dialect.GA:
            # The live service counts from when the reply's audio has finished playing.
            played_s = (
                sum(len(self._item_audio.get(i["id"], b"")) for i in run.output)
                / BYTES_PER_MS[run.output_format]
                / 1000
            )
            remaining = played_s * (1 - self.options.pace)
            self._idle_deadline = self._now + remaining + idle_ms / 1000

    def _cancel(self, run: _ResponseRun, reason: str) -> None:
        """Stop a streaming response and close what it had open, as the live service does."""
        self._stop(run, "cancelled", {"type": "cancelled", "reason": reason})

    def _stop(self, run: _ResponseRun, status: str, details: dict[str, Any]) -> None:
        """End a response early with ``status``: its stream stops, the item it had open is
        closed (incomplete), and ``response.done`` says why."""
        if run.stream is not None:
            run.stream.close()
        if run.current is not None and run.current_kind == "function_call":
            # A call cut off before its arguments were done was never issued: no output is
            # owed for it (the verdict must not report it as pending).
            self._pending_calls.pop(run.current.get("call_id", ""), None)
        if run.current is not None:
            index = len(run.output)
            item = run.current
            where = {
                "response_id": run.id,
                "item_id": item["id"],
                "output_index": index,
                "content_index": 0,
            }
            if run.current_kind == "audio":
                # None once truncated: the transcript was dropped with the unplayed audio.
                transcript = item["content"][0].get("transcript") or ""
                self._emit({"type": "response.output_audio.done", **where})
                self._emit(
                    {
                        "type": "response.output_audio_transcript.done",
                        **where,
                        "transcript": transcript,
                    }
                )
                self._emit(
                    {
                        "type": "response.content_part.done",
                        **where,
                        "part": {"type": "audio", "transcript": transcript},
                    }
                )
            elif run.current_kind == "text":
                text = item["content"][0].get("text", "")
                self._emit({"type": "response.output_text.done", **where, "text": text})
                self._emit(
                    {
                        "type": "response.content_part.done",
                        **where,
                        "part": {"type": "text", "text": text},
                    }
                )
            self._close_item(run, index, "incomplete")
        self._finish(run, status, details)

    def _cancel_all(
        self, reason: str, *, emit: bool = True, in_conversation_only: bool = False
    ) -> None:
        for run in list(self._runs):
            if in_conversation_only and not run.in_conversation:
                continue
            if emit:
                self._cancel(run, reason)
            else:
                if run.stream is not None:
                    run.stream.close()
                self._runs.remove(run)

    # ---- introspection for harnesses ---------------------------------------------------------

    @property
    def findings(self) -> list[Finding]:
        """The client's protocol mistakes and audio warnings so far (from the transcript)."""
        return self.transcript.findings()

    def item_audio(self, item_id: str) -> bytes:
        """The audio bytes an item holds (client audio in, model audio out)."""
        return bytes(self._item_audio.get(item_id, b""))

    def client_events(self, type_: str | None = None) -> Iterable[dict[str, Any]]:
        return self.transcript.client_events(type_)


_ACTION_CODES = {"retrieving": "retrieve", "deleting": "delete", "truncating": "truncate"}


def expiry_message(limit_s: float) -> str:
    """The ``session_expired`` message, in the live service's wording; a limit shorter than
    whole minutes (tests) says seconds.

    >>> expiry_message(DEFAULT_MAX_DURATION_S)
    'Your session hit the maximum duration of 60 minutes.'
    >>> expiry_message(0.5)
    'Your session hit the maximum duration of 0.5 seconds.'
    """
    if limit_s >= 60 and limit_s % 60 == 0:
        return f"Your session hit the maximum duration of {round(limit_s / 60)} minutes."
    return f"Your session hit the maximum duration of {limit_s:g} seconds."


_AUDIO_PART_TYPES = ("input_audio", "output_audio", "audio")
# Client events whose audio the session keeps decoded (buffer, item): the transcript keeps
# their size only, not the base64 text a second time.
_CARRY_AUDIO = frozenset({"input_audio_buffer.append", "conversation.item.create"})


def _without_audio(event: dict[str, Any]) -> dict[str, Any]:
    """The transcript's copy of a client event that carries audio: each base64 audio string
    replaced by its size (:func:`~mock_server.transcript.elided`); other fields as sent.

    >>> _without_audio({"type": "input_audio_buffer.append", "audio": "AAAA"})
    {'type': 'input_audio_buffer.append', 'audio': '<elided: 4 base64 characters of audio>'}
    """
    audio = event.get("audio")
    if isinstance(audio, str):
        return {**event, "audio": elided(len(audio), "audio")}
    item = event.get("item")
    content = item.get("content") if isinstance(item, dict) else None
    if not isinstance(content, list) or not any(
        isinstance(part, dict) and isinstance(part.get("audio"), str) for part in content
    ):
        return event
    assert isinstance(item, dict)
    parts = [
        {**part, "audio": elided(len(part["audio"]), "audio")}
        if isinstance(part, dict) and isinstance(part.get("audio"), str)
        else part
        for part in content
    ]
    return {**event, "item": {**item, "content": parts}}


def _split_words(text: str) -> list[str]:
    """Deltas as the live service sends them: words with their leading space."""
    words: list[str] = []
    for n, word in enumerate(text.split(" ")):
        words.append(word if n == 0 else " " + word)
    return [w for w in words if w]


def _pieces(parts: Iterable[bytes], size: int) -> Iterator[bytes]:
    """``parts`` cut again into pieces of ``size`` bytes (the last may be shorter; nothing
    at all is one empty piece), taking a part only when the pieces so far are sent."""
    pending = b""
    sent = False
    for part in parts:
        data = pending + part if pending else bytes(part)
        whole = len(data) - len(data) % size
        for start in range(0, whole, size):
            yield data[start : start + size]
            sent = True
        pending = data[whole:]
    if pending or not sent:
        yield pending


def _split_arguments(arguments: str, size: int = 16) -> Iterator[str]:
    """The argument deltas, one at a time as the run streams (never all built up front)."""
    if not arguments:
        yield ""
    for start in range(0, len(arguments), size):
        yield arguments[start : start + size]


_HANDLERS: dict[str, Callable[[Session, dict[str, Any]], None]] = {
    "session.update": Session._on_session_update,
    "transcription_session.update": Session._on_transcription_session_update,
    "input_audio_buffer.append": Session._on_append,
    "input_audio_buffer.commit": Session._on_commit,
    "input_audio_buffer.clear": Session._on_clear,
    "output_audio_buffer.clear": Session._on_output_clear,
    "conversation.item.create": Session._on_item_create,
    "conversation.item.retrieve": Session._on_item_retrieve,
    "conversation.item.delete": Session._on_item_delete,
    "conversation.item.truncate": Session._on_item_truncate,
    "response.create": Session._on_response_create,
    "response.cancel": Session._on_response_cancel,
}
