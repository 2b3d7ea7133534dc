"""One accepted connection: the pump between a WebSocket and a session, or a relay.

:func:`serve_connection` runs a connection the handshake accepted. An emulated one is a pump:
each client frame goes to the :class:`~mock_server.session.Session`, and what the session hands
back (events, a close, a drop, a raw frame) is sent at the time it says; an :class:`_Alarm`
wakes the pump for the session's next deadline while it waits for a frame. A relayed one is
handed to its :class:`~mock_server.relay.Relay`, opened during the handshake by
:func:`open_relay`. Neither holds any state beyond its one connection. How frames are read and
written fast is :mod:`~mock_server.server.framing`'s.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Coroutine
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol

from websockets.asyncio.server import ServerConnection
from websockets.exceptions import ConnectionClosed
from websockets.http11 import Response
from websockets.protocol import State
from websockets.typing import Subprotocol

from mock_server.protocol.events import Dialect
from mock_server.protocol.http import openai_error
from mock_server.server.framing import BatchConnection, batch_room, send_texts
from mock_server.server.mount import Mount
from mock_server.server.warm import default_transcriber

if TYPE_CHECKING:
    from websockets.http11 import Request

    from mock_server.relay import Relay
    from mock_server.server.handshake import Accept
    from mock_server.server.handshake import Relay as RelayDecision
    from mock_server.session import Output, Session
    from mock_server.transcript import Transcript

log = logging.getLogger("realtime_mock")
# A frame whose handling took longer than this makes its session wait as long before its next
# frame (see _Pump): a client's burst of costly frames never runs back to back.
YIELD_AFTER_S = 0.002


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
    subprotocol: Subprotocol | None = None  # the one the handshake answers with
    # The configuration the client's ephemeral key baked in, over the mount's overrides.
    session_config: dict[str, Any] | None = None
    # When its handler started and ended (the loop's clock), and the WebSocket's close code.
    opened_at: float | None = None
    closed_at: float | None = None
    close_code: int | None = None
    call_id: str | None = None  # a sideband's: the WebRTC call whose session it joins

    @classmethod
    def accepted(cls, decision: Accept, call_id: str | None = None) -> Connection:
        """The emulated connection an accepted handshake opens (a sideband names its call)."""
        from mock_server.transcript import Transcript  # loaded after listening (warm.py)

        tape = bytearray() if decision.mount.keep_input_audio else None
        transcript = Transcript(input_audio=tape)
        transcript.handshake = decision.handshake
        return cls(
            mount=decision.mount,
            dialect=decision.dialect,
            model=decision.model,
            intent=decision.intent,
            api_key=decision.api_key,
            transcript=transcript,
            refusal=decision.refusal,
            subprotocol=decision.subprotocol,
            session_config=decision.session,
            call_id=call_id,
        )


class LiveCall(Protocol):
    """A live WebRTC call, as the server sees it (the call is :mod:`mock_server.webrtc`'s)."""

    def join(self, ws: ServerConnection, conn: Connection) -> Coroutine[Any, Any, None]:
        """Serve a sideband WebSocket on the call's session until it closes."""
        ...

    async def end(self, code: int, reason: str) -> None: ...


async def serve_connection(ws: ServerConnection, conn: Connection) -> None:
    """Run an accepted connection until it ends."""
    if conn.relay is not None:
        await conn.relay.run(ws)
        return
    session = new_session(conn)
    await _Pump(ws, conn, session).run()


def new_session(conn: Connection) -> Session:
    """The session an emulated connection (a WebSocket, or a WebRTC call) plays."""
    # The session package (and numpy, pydantic) loads in the warm-up thread after the server
    # listens (see warm.py), not before: `serve` listens as soon as websockets is imported.
    from mock_server.protocol.session_config import apply_update
    from mock_server.session import Session, SessionOptions

    mount = conn.mount
    session = Session(
        SessionOptions(
            dialect=conn.dialect,
            model=conn.model,
            seed=mount.seed,
            pace=mount.pace,
            timing=mount.timing,
            intent=conn.intent,
            max_duration_s=mount.max_duration_s,
            close_idle_after_s=mount.close_idle_after_s,
            session_overrides=(
                mount.session_overrides
                if conn.session_config is None
                else apply_update(mount.session_overrides, conn.session_config)
            ),
            transcriber=mount.transcriber or default_transcriber(),
        ),
        responder=mount.responder_factory() if mount.responder_factory else None,
        transcript=conn.transcript,
        script=mount.script_factory(conn.number) if mount.script_factory else None,
    )
    conn.session = session
    return session


class _Pump:
    """Client frames into the session, and what it hands back out when it is due.

    The pump is a task waiting in ``recv()`` for the next frame, or on the :class:`_Alarm` for
    the session's next deadline. On a :class:`~mock_server.server.framing.BatchConnection`,
    a text frame that arrives while it waits is handed to :meth:`read` as it arrives instead:
    answered at once when its answer is events the socket can take now, else (a close, a
    drop, a full socket, a costly frame) its outputs wait for the task, which is woken.
    """

    def __init__(self, ws: ServerConnection, conn: Connection, session: Session) -> None:
        self.ws = ws
        self.conn = conn
        self.session = session
        self.loop = asyncio.get_running_loop()
        self.origin = self.loop.time()
        self.scale = conn.mount.time_scale
        current = asyncio.current_task()
        assert current is not None
        self.alarm = _Alarm(self.loop, current)
        self.held: list[Output] = []  # outputs read() left for the task, in order
        self.rest = 0.0  # how long the task waits after a costly frame read() took
        self.failure: Exception | None = None  # a bug raised in read(), raised by the task

    def clock(self, at: float | None = None) -> float:
        """The session's time at the loop's time ``at`` (None: now)."""
        return self.origin + ((self.loop.time() if at is None else at) - self.origin) * self.scale

    async def run(self) -> None:
        from mock_server.session import Close, Drop, RawFrame, ServerEvent

        ws, conn, session, loop, alarm = self.ws, self.conn, self.session, self.loop, self.alarm
        if conn.refusal is not None:
            session.refuse(*conn.refusal, now=self.clock())
        else:
            session.open(self.clock())
        if isinstance(ws, BatchConnection):
            self._event_type = ServerEvent  # for read(): imported here, once
            ws.reader = self.read
        try:
            while True:
                if self.failure is not None:
                    raise self.failure
                started = loop.time()
                outputs = session.due(self.clock())
                if self.held:
                    outputs, self.held = self.held + outputs, []
                busy = max(loop.time() - started, self.rest)
                self.rest = 0.0
                batch: list[str] = []  # consecutive events, sent in one write (send_texts)
                size, room = 0, batch_room(ws)
                for output in outputs:
                    if isinstance(output, ServerEvent):
                        batch.append(output.text)
                        size += len(output.text)
                        if size < room:
                            continue
                    if batch:
                        if ws.state is not State.OPEN:
                            break
                        await send_texts(ws, batch)
                        batch, size, room = [], 0, batch_room(ws)
                    if ws.state is not State.OPEN:
                        # The client is closing: nothing more can reach it (a send would wait
                        # for the closing handshake), but the frames it sent before its close
                        # are still read below, so that none is lost.
                        break
                    if isinstance(output, ServerEvent):
                        pass  # sent with its batch
                    elif isinstance(output, Close):
                        conn.transcript.closed = (output.code, output.reason)
                        await ws.close(output.code, output.reason)
                        return
                    elif isinstance(output, Drop):
                        ws.transport.abort()
                        return
                    elif isinstance(output, RawFrame):
                        await ws.send(output.data)
                if batch and ws.state is State.OPEN:
                    await send_texts(ws, batch)
                if busy > YIELD_AFTER_S:
                    # A costly turn of the clock (a whole reply due at once, at pace 0) or
                    # frame: the session waits as long before its next, as after a costly
                    # frame below.
                    await _rest(ws, min(busy, 1.0))
                self.arm()
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
                session.receive(frame, self.clock())
                spent = loop.time() - started
                if spent > YIELD_AFTER_S:
                    # recv() hands over a queued frame without yielding, and one loop turn
                    # per costly frame is not enough for the others (a /healthz answer takes
                    # a few turns): a session that just took the loop for a while waits as
                    # long before its next frame, so no client holds more than half of it.
                    await _rest(ws, min(spent, 1.0))
        except ConnectionClosed as closed:
            if conn.transcript.closed is None:
                rcvd = closed.rcvd
                conn.transcript.closed = (
                    (rcvd.code, rcvd.reason) if rcvd is not None else (1006, "connection lost")
                )
        finally:
            if isinstance(ws, BatchConnection):
                ws.reader = None
            if conn.transcript.closed is None and ws.close_code is not None:
                conn.transcript.closed = (ws.close_code, ws.close_reason or "")
            alarm.clear()
            session.abandon()

    def arm(self) -> None:
        """Set the alarm for the session's next deadline."""
        alarm = self.alarm
        deadline = self.session.next_deadline()
        if deadline is None:
            alarm.clear()  # only a client frame can cause output now
        elif deadline != alarm.deadline:
            wait = max(0.0, (deadline - self.clock()) / self.scale)
            alarm.set(deadline, self.loop.time() + wait)

    def read(self, text: str) -> bool:
        """A client text frame, handed over as it arrives; False: the task is busy (recv's)."""
        alarm = self.alarm
        if not alarm.waiting:
            return False
        ws = self.ws
        assert isinstance(ws, BatchConnection)
        loop, session = self.loop, self.session
        try:
            started = loop.time()
            now = self.clock(started)
            session.receive(text, now)
            outputs = session.due(now)
            spent = loop.time() - started
            texts = [output.text for output in outputs if type(output) is self._event_type]
            if len(texts) < len(outputs) or not ws.write_now(texts):
                # A close, a drop, a raw frame, much to write, a full socket: the task's.
                self.held.extend(outputs)
                alarm.ring_now()
            if spent > YIELD_AFTER_S:
                self.rest = spent  # the task waits as long, as after a costly recv()
                alarm.ring_now()
            elif alarm.waiting:
                self.arm()
        except Exception as exc:  # a bug of ours: raised by the task, as recv()'s would be
            self.failure = exc
            alarm.ring_now()
        return True


async def open_relay(
    connection: ServerConnection, request: Request, decision: RelayDecision
) -> Connection | Response:
    """Open the pass-through upstream during the client's handshake: the relayed connection,
    or the response to refuse the client with (the upstream's own refusal, or a 502)."""
    from mock_server.transcript import Transcript

    upstream, transcript = decision.upstream, Transcript()
    transcript.handshake = decision.handshake
    # A client may give up while the upstream is slow to answer; on the live API an upstream
    # session opened for nobody is billed and counts against the concurrency limit, so
    # opening it is abandoned (or it is closed) as soon as the client has gone.
    client_gone = connection.connection_lost_waiter
    opening = asyncio.ensure_future(upstream.open(request, decision.dialect, transcript))
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
    return Connection(
        mount=decision.mount,
        dialect=decision.dialect,
        model=decision.handshake.model or "",
        intent=None,
        api_key=None,
        transcript=transcript,
        relay=opened,
        subprotocol=decision.subprotocol,
    )


async def _rest(ws: ServerConnection, seconds: float) -> None:
    """The pump's wait after a costly frame: ``seconds``, or until the connection is lost."""
    lost = ws.connection_lost_waiter
    if not lost.done():
        await asyncio.wait([lost], timeout=seconds)


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
        self.ring_now()

    def ring_now(self) -> None:
        """Wake the task if it waits in ``recv()`` (once: it then no longer waits)."""
        if self.waiting:
            self.waiting = False
            self._rang = True
            self.task.cancel()

    def woke(self) -> bool:
        """Whether the cancellation just caught was the alarm's alone (then it is undone)."""
        rang, self._rang = self._rang, False
        return rang and self.task.uncancel() == 0
