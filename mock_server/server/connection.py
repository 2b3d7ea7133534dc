"""One accepted connection: the pump between a WebSocket and a session, or a relay.

:func:`serve_connection` runs a connection the handshake accepted. An emulated one is a pump:
each client frame goes to the :class:`~mock_server.session.Session`, and what the session hands
back (events, a close, a drop, a raw frame) is sent at the time it says; an :class:`_Alarm`
wakes the pump for the session's next deadline while it waits for a frame. A relayed one is
handed to its :class:`~mock_server.relay.Relay`, opened during the handshake by
:func:`open_relay`. Neither holds any state beyond its one connection.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from websockets.asyncio.server import ServerConnection
from websockets.exceptions import ConnectionClosed
from websockets.http11 import Response
from websockets.protocol import State
from websockets.typing import Subprotocol

from mock_server.protocol.events import Dialect
from mock_server.protocol.http import openai_error
from mock_server.protocol.session_config import apply_update
from mock_server.server.mount import Mount
from mock_server.server.warm import default_transcriber
from mock_server.session import Close, Drop, RawFrame, ServerEvent, Session, SessionOptions
from mock_server.transcript import Transcript

if TYPE_CHECKING:
    from websockets.http11 import Request

    from mock_server.relay import Relay
    from mock_server.server.handshake import Relay as RelayDecision

log = logging.getLogger("realtime_mock")
# A frame whose handling took longer than this makes its session wait as long before its next
# frame (see _pump): a client's burst of costly frames never runs back to back.
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


async def serve_connection(ws: ServerConnection, conn: Connection) -> None:
    """Run an accepted connection until it ends."""
    if conn.relay is not None:
        await conn.relay.run(ws)
        return
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
    await _pump(ws, conn, session)


async def _pump(ws: ServerConnection, conn: Connection, session: Session) -> None:
    loop = asyncio.get_running_loop()
    origin = loop.time()
    scale = conn.mount.time_scale

    def clock() -> float:
        return origin + (loop.time() - origin) * scale

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


async def open_relay(
    connection: ServerConnection, request: Request, decision: RelayDecision
) -> Connection | Response:
    """Open the pass-through upstream during the client's handshake: the relayed connection,
    or the response to refuse the client with (the upstream's own refusal, or a 502)."""
    upstream = decision.upstream
    transcript = Transcript()
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
