"""One Realtime session as a state machine that never touches a socket.

The driver (the websockets server, a test, the proxy) feeds it client frames with
:meth:`Session.receive` and asks, with :meth:`Session.due`, for the server output whose time
has come; :meth:`Session.next_deadline` says when to ask next. Time is a parameter: every method
that can produce output takes ``now``, and responses are paced by ``pace`` (1.0 = real time,
0 = as fast as possible), so a test can run an hour of session in a millisecond.

This class drives and dispatches; its parts keep the protocol state of the live service: the
input audio (:mod:`.input_audio`), the conversation's items (:mod:`.conversation`) and the
responses (:mod:`.responses`, streamed by :mod:`.streaming`). All of them send through one
:class:`~mock_server.session.outbox.Outbox`, which stamps, encodes for the connection's dialect
(the session's :class:`~mock_server.protocol.encoding.Encoder`), records and checks each event.
Bad client input never raises: it becomes an ``error`` event naming the client's ``event_id``,
and the session goes on.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

from mock_server import conformance
from mock_server.ids import IdFactory
from mock_server.protocol.encoding import encoder_for
from mock_server.protocol.errors import RealtimeError
from mock_server.protocol.frames import Malformed, event_id_of, read_frame
from mock_server.protocol.items import is_user_text_item
from mock_server.protocol.limits import KNOWN_INTENTS
from mock_server.responder import CannedResponder, Responder, ResponsePlan
from mock_server.session.context import Clock, Mistakes
from mock_server.session.conversation import Conversation
from mock_server.session.handlers import HANDLERS, ITEM_CREATE, check_type, record_client
from mock_server.session.input_audio import InputAudio
from mock_server.session.options import SessionOptions, expiry_message
from mock_server.session.outbox import Outbox
from mock_server.session.outputs import Close, Drop, Output
from mock_server.session.responses import Responses
from mock_server.session.script import Script, ScriptedSession
from mock_server.session.update import SessionConfig
from mock_server.transcript import SESSION_PAYLOAD_LIMIT, Finding, Transcript

log = logging.getLogger("realtime_mock")


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
        self.encoder = encoder_for(self.options.dialect)
        self.ids = IdFactory(self.options.seed)
        self.transcript = transcript if transcript is not None else Transcript()
        if self.transcript.payload_limit is None:
            self.transcript.payload_limit = SESSION_PAYLOAD_LIMIT
        self.clock = Clock()
        checks = self.options.outbound_checks
        if checks is None:
            checks = conformance.default_checks()
        self.outbox = Outbox(self.encoder, self.ids, self.transcript, self.clock.elapsed, checks)
        self.mistakes = Mistakes(self.transcript, self.clock)
        self.settings = SessionConfig(self.encoder, self.outbox)
        self.conversation = Conversation(self.outbox, self.ids, self.mistakes)
        self.responses = Responses(
            self.outbox,
            self.ids,
            self.conversation,
            self.clock,
            pace=self.options.pace,
            config=self.settings.current,
            responder=responder or CannedResponder(),
            script=script,
            timing=self.options.timing,
            seed=self.options.seed,
        )
        self.input_audio = InputAudio(
            self.outbox,
            self.ids,
            self.mistakes,
            self.conversation,
            self.responses,
            self.settings.current,
            script=script,
            transcriber=self.options.transcriber,
        )
        self.closed: Close | Drop | None = None
        self._expires_at: float | None = None
        self._stalled_until: float | None = None

    # ---- what the parts hold, for drivers and scripts ------------------------------------

    @property
    def config(self) -> dict[str, Any]:
        """The session's configuration, in the neutral (GA) shape."""
        return self.settings.config

    @property
    def items(self) -> list[dict[str, Any]]:
        return self.conversation.items

    @property
    def input_buffer(self) -> bytearray:
        return self.input_audio.buffer

    @property
    def started_at(self) -> float:
        """When the session opened (on the driver's clock)."""
        return self.clock.started_at

    @property
    def findings(self) -> list[Finding]:
        """The client's protocol mistakes and audio warnings so far (from the transcript)."""
        return self.transcript.findings()

    def item_audio(self, item_id: str) -> bytes:
        """The audio bytes an item holds (client audio in, model audio out)."""
        return bytes(self.conversation.audio.get(item_id, b""))

    def client_events(self, type_: str | None = None) -> Iterable[dict[str, Any]]:
        return self.transcript.client_events(type_)

    def input_format(self) -> str:
        return self.input_audio.format()

    def active_response_id(self) -> str | None:
        return self.responses.active_id()

    # ---- driving ----------------------------------------------------------------------------

    def open(self, now: float) -> None:
        """Start the session: ``session.created`` (and ``conversation.created`` for beta);
        an unknown ``intent=`` (empty too) gets ``invalid_intent``, then close 4000."""
        intent = self.options.intent
        if intent is not None and intent not in KNOWN_INTENTS:
            self.refuse("invalid_intent", f"Invalid intent {intent[:200]}", now)
            return
        self.clock.started_at = self.clock.now = self.clock.last_activity = now
        session_id = self.ids.new("sess")
        self.conversation.id = self.ids.new("conv")
        refused = self.settings.start(self.options, session_id, now)
        self.input_audio.configure_vad()
        if self.options.max_duration_s is not None:
            self._expires_at = now + self.options.max_duration_s
        self.settings.announce("session.created")
        if refused is not None:
            self._error(refused)
        send_conversation = self.options.send_conversation_created
        if send_conversation is None:
            send_conversation = self.encoder.announces_conversation
        if send_conversation:
            conversation = {"id": self.conversation.id, "object": "realtime.conversation"}
            self.outbox.emit({"type": "conversation.created", "conversation": conversation})
        if self.script is not None:
            try:
                self.script.attach(self, now)
            except Exception as exc:
                self._internal_error(exc, "starting the scenario")
        self.responses.mcp.tools_changed(self.config.get("tools") or [])

    def receive(self, frame: str | bytes, now: float) -> None:
        """Feed one client frame; the output it causes is collected by :meth:`due`."""
        self.clock.now = self.clock.last_activity = now
        if self.closed is not None:
            return
        event = read_frame(frame)
        t = self.clock.elapsed()
        if isinstance(event, Malformed):
            self.transcript.add(t, "client", event.label, raw=event.raw)
            self.mistakes.find("malformed_frame", event.finding)
            self._error(event.error)
            return
        client_event_id = event_id_of(event)
        type_ = event.get("type")
        fast = type_ == ITEM_CREATE and self.script is None and is_user_text_item(event)
        record_client(self.transcript, t, event, type_, as_sent=fast)
        try:
            if fast:
                self.conversation.create_user_text(event["item"])  # the most common: valid
                return
            name = check_type(type_, len(frame))
            error = self.encoder.validate(event)
            if error is not None:
                # A script may answer even an invalid event itself (a recorded refusal).
                if self.script is not None and self.script.on_rejected_event(event, now):
                    return
                raise error
            self._dispatch(name, event)
        except RealtimeError as error:
            self.mistakes.find(
                "rejected_event",
                f"{type_ if isinstance(type_, str) else 'event'} rejected: {error}",
                client_event_id,
                code=error.code,
            )
            self._error(error.for_event(client_event_id))
        except Exception as exc:  # a bug of ours must not cost the client its session
            self._internal_error(exc, f"handling '{type_}'", client_event_id)

    def receive_audio(self, pcm16: bytes, now: float) -> None:
        """Feed a media track's audio (WebRTC), 24 kHz PCM16, as an append's (no event kept)."""
        self.clock.now = self.clock.last_activity = now
        if self.closed is not None:
            return
        try:
            self.input_audio.from_track(pcm16, now)
        except RealtimeError as error:
            self._error(error)
        except Exception as exc:
            self._internal_error(exc, "adding the track's audio")

    def due(self, now: float) -> list[Output]:
        """All output whose time has come, in order.

        A bug of ours raised while the clock moves (an idle timeout's response, a script's
        poll) is contained here, as :meth:`receive` contains one raised by a client event: it
        becomes a ``server_error`` event and one logged traceback, and the session goes on.
        """
        self.clock.now = now
        if self._stalled_until is not None:
            if now < self._stalled_until:
                return []
            self._stalled_until = None
        try:
            self._due(now)
        except Exception as exc:
            self._internal_error(exc, "advancing the clock")
        return self.outbox.take()

    def _due(self, now: float) -> None:
        if self._expires_at is not None and now >= self._expires_at and self.closed is None:
            self.expire()
        idle = self.responses.idle_deadline
        if idle is not None and now >= idle and self.closed is None:
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
        self.responses.due(now)
        if self.script is not None and self.closed is None:
            self.script.poll(now)  # steps waiting for a response that has just finished

    def next_deadline(self) -> float | None:
        """When :meth:`due` will next have something (None: only a client frame can cause it)."""
        if self._stalled_until is not None:
            return self._stalled_until
        if len(self.outbox):
            return self.clock.now
        wakeup = self.responses.next_wakeup()
        times = [wakeup] if wakeup is not None else []
        if self._expires_at is not None and self.closed is None:
            times.append(self._expires_at)
        if self.responses.idle_deadline is not None and self.closed is None:
            times.append(self.responses.idle_deadline)
        idle_close = self._idle_close_at()
        if idle_close is not None:
            times.append(idle_close)
        if self.script is not None and self.closed is None:
            try:
                deadline = self.script.next_deadline()
            except Exception as exc:
                # Reported in the next due(); the script is asked again at the next event.
                self._internal_error(exc, "asking the scenario for its next deadline")
                return self.clock.now
            if deadline is not None:
                times.append(deadline)
        return min(times) if times else None

    def _idle_close_at(self) -> float | None:
        """When the connection counts as idle (None: never, or a response is streaming)."""
        idle = self.options.close_idle_after_s
        if idle is None or self.responses.runs or self.closed is not None:
            return None
        return self.clock.last_activity + idle

    def _internal_error(self, exc: Exception, doing: str, event_id: str | None = None) -> None:
        self.outbox.internal_error(exc, doing, event_id)

    def _error(self, error: RealtimeError) -> None:
        self.outbox.error(error)

    def refuse(self, code: str, message: str, now: float) -> None:
        """Refuse the session after the upgrade, as the live service does for a retired dialect
        or an unknown model: an ``error`` event, then close 4000 ``<type>.<code>``."""
        self.clock.started_at = self.clock.now = now
        self._error(RealtimeError(message, code))
        self.close(4000, f"invalid_request_error.{code}")

    def abandon(self) -> None:
        """The connection is gone: stop every response without emitting anything, and let the
        script go (it keeps only what its verdict needs, so a long-running server does not
        hold every ended session's audio through its scripts)."""
        self.responses.cancel_all("client_cancelled", emit=False)
        if self.script is not None:
            try:
                self.script.detach()
            except Exception:  # the connection is gone: nothing to tell, but the log
                log.exception("realtime-mock: internal error letting the scenario go")

    # ---- actions for scripts (mock_server.session.script.ScriptedSession) ------------------

    def inject(self, event: dict[str, Any]) -> dict[str, Any]:
        """Send a server event as given (an ``event_id`` is added when it has none)."""
        return self.outbox.emit_given(event)

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

    def close(self, code: int, reason: str) -> None:
        """Ask the driver to close the connection (after what is already queued)."""
        self._end(Close(code, reason))

    def drop(self) -> None:
        """Cut the connection without a close frame, after what is already queued."""
        self._end(Drop())

    def _end(self, how: Close | Drop) -> None:
        self.responses.cancel_all("client_cancelled", emit=False)
        self.closed = how
        self.outbox.end(how)

    def send_raw(self, data: str | bytes) -> None:
        """Send a frame as is: malformed or truncated traffic on purpose."""
        self.outbox.raw(data)

    def stall(self, seconds: float) -> None:
        """Send nothing for ``seconds`` (client events are still taken in and answered later)."""
        self._stalled_until = self.clock.now + seconds

    def create_response(self, plan: ResponsePlan, overrides: dict[str, Any] | None = None) -> str:
        """Start a response the client did not ask for (server-initiated); returns its id."""
        return self.responses.start(overrides or {}, event_id=None, plan=plan)

    def expire(self) -> None:
        """The session's maximum duration is reached: ``session_expired``, then close 1001."""
        message = expiry_message(self.options.max_duration_s or 0)
        self.responses.cancel_all("client_cancelled", emit=False)
        self._error(RealtimeError(message, "session_expired"))
        self.closed = Close(1001, message)
        self.outbox.end(self.closed)

    def _idle_timeout(self) -> None:
        """``idle_timeout_ms`` passed without speech: commit (empty) audio and respond."""
        self.responses.idle_deadline = None
        self.input_audio.timeout()
        if self.responses.active_id() is None:
            try:
                self.responses.start({}, event_id=None)
            except RealtimeError as error:  # e.g. a forced tool's schema: said, not raised
                self._error(error)

    # ---- client events --------------------------------------------------------------------------

    def _dispatch(self, type_: str, event: dict[str, Any]) -> None:
        if self.script is not None and self.script.on_client_event(event, self.clock.now):
            return
        handler = HANDLERS.get(type_)
        if handler is not None:  # None: validated types without behaviour of their own
            handler(self, event)


if TYPE_CHECKING:

    def _scripts_act_through_public_names(session: Session) -> ScriptedSession:
        return session  # mypy checks that a Session is the ScriptedSession scripts rely on
