"""One WebRTC call: its peer (aiortc), the session it plays, and the sidebands that join it.

The call's pump is the WebSocket pump's (``server/connection.py``) with more ends: client
events come from the ``oai-events`` data channel and from any sideband WebSocket, audio from the
client's track (:meth:`Session.receive_audio`); the session's events go to the data channel and
to every sideband, but a response's audio goes to the server's track (:class:`ReplyTrack`),
never to the channel, as live. The track says when a response's audio starts and ends playing
(``output_audio_buffer.started``/``stopped``); ``output_audio_buffer.clear`` from the client, or
the client's speech starting, cuts it (``output_audio_buffer.cleared``). Only the pump touches the
session: everything else puts what happened into the call's inbox.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import json
import logging
from typing import TYPE_CHECKING, Any

from aiortc import RTCConfiguration, RTCDataChannel, RTCPeerConnection, RTCSessionDescription
from aiortc.mediastreams import MediaStreamTrack
from websockets.asyncio.server import ServerConnection
from websockets.exceptions import ConnectionClosed

from mock_server.protocol import session_config
from mock_server.protocol.errors import RealtimeError
from mock_server.protocol.formats import BYTES_PER_MS
from mock_server.server.connection import Connection, new_session
from mock_server.session import Close, Drop, RawFrame, ServerEvent, Session
from mock_server.session.handlers import HANDLERS
from mock_server.webrtc.media import ReplyTrack, read_track

if TYPE_CHECKING:
    from mock_server.server.server import MockServer

log = logging.getLogger("realtime_mock")

CHANNEL = "oai-events"
AUDIO_DELTAS = ("response.output_audio.delta", "response.audio.delta")
# What the call's inbox holds before the pump reads it, and the events kept for a data channel
# not yet open: a client past either loses what does not fit (a finding says so).
MAX_INBOX = 512
MAX_UNSENT = 1024
CONNECT_S = 30.0  # how long a call waits for its client's oai-events channel
CHANNEL_OPEN_S = 5.0  # how long a session's close waits for the channel its events wait for
CHANNEL_CLOSE_S = 1.0  # how long hanging up waits for the client to take the channel's close


class Call:
    """A live call (``rtc_...``): see the module's docstring."""

    def __init__(self, server: MockServer, call_id: str, conn: Connection) -> None:
        self.server = server
        self.id = call_id
        self.conn = conn
        # Made when the pump starts, once the server has numbered the connection (a
        # scenario's script is the one for that connection's number), as a WebSocket's is.
        self._session: Session | None = None
        self._opened = asyncio.Event()
        self._channel_ready = asyncio.Event()
        # No ICE servers: aiortc's default is a public STUN server, and a local call needs none.
        self.pc = RTCPeerConnection(RTCConfiguration(iceServers=[]))
        self.track = ReplyTrack(self._played)
        self.channel: RTCDataChannel | None = None
        self.sidebands: set[ServerConnection] = set()
        self.inbox: asyncio.Queue[tuple[str, Any]] = asyncio.Queue(MAX_INBOX)
        self._unsent: list[str] = []
        self._tasks: set[asyncio.Task[None]] = set()
        self._ended = False
        self.lost = 0  # inbox items that did not fit
        self.heard_ms = 0.0  # the client's audio the session was fed
        self.task: asyncio.Future[None] | None = None  # the pump, as one of the server's
        self._watchdog: asyncio.TimerHandle | None = None

    # ---- set-up (the HTTP answer waits for it) ---------------------------------------------

    async def answer(self, offer_sdp: str) -> str:
        """Take the client's offer; the SDP answer (ICE candidates gathered)."""
        pc = self.pc
        pc.on("datachannel", self._on_channel)
        pc.on("track", self._on_track)
        pc.on("connectionstatechange", self._on_state)
        await pc.setRemoteDescription(RTCSessionDescription(sdp=offer_sdp, type="offer"))
        if any(t.kind == "audio" for t in pc.getTransceivers()):
            pc.addTrack(self.track)  # the offer's audio m-line: the reply plays there
        # else an offer with the channel alone: events only, the reply's audio goes nowhere
        await pc.setLocalDescription(await pc.createAnswer())
        # A client that never connects (ICE fails quietly, no channel) does not hold a session.
        loop = asyncio.get_running_loop()
        self._watchdog = loop.call_later(CONNECT_S, self._check_connected)
        return str(pc.localDescription.sdp)

    def _check_connected(self) -> None:
        if self.channel is None:
            self.conn.transcript.closed = (1006, f"no data channel within {CONNECT_S:.0f} s")
            self._put("end", None)

    def _on_channel(self, channel: RTCDataChannel) -> None:
        if channel.label != CHANNEL:
            return  # the live service reads only its own channel
        self.channel = channel
        self._channel_ready.set()
        channel.on("message", lambda message: self._put("text", message))
        unsent, self._unsent = self._unsent, []
        for text in unsent:
            channel.send(text)

    def _on_track(self, track: MediaStreamTrack) -> None:
        if track.kind == "audio":
            self._spawn(read_track(track, lambda pcm: self._put("audio", pcm)))

    def _on_state(self) -> None:
        if self.pc.connectionState in ("failed", "closed"):
            self._put("end", None)

    def _played(self, what: str, response_id: str) -> None:
        self._put("played", (what, response_id))

    def _put(self, kind: str, value: Any) -> None:
        try:
            self.inbox.put_nowait((kind, value))
        except asyncio.QueueFull:
            self.lost += 1

    def _spawn(self, coro: Any) -> None:
        task = asyncio.ensure_future(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    # ---- the pump ---------------------------------------------------------------------------

    @property
    def session(self) -> Session:
        assert self._session is not None, "the call's pump has not started"
        return self._session

    async def run(self) -> None:
        """Play the session until the call ends (the client hangs up, the session closes, the
        server stops)."""
        loop = asyncio.get_running_loop()
        origin = loop.time()
        scale = self.conn.mount.time_scale
        session = self._session = new_session(self.conn)
        self._opened.set()

        def clock() -> float:
            return origin + (loop.time() - origin) * scale

        if self.conn.refusal is not None:
            session.refuse(*self.conn.refusal, now=clock())
        else:
            session.open(clock())
        try:
            while not self._ended:
                if not await self._deliver(session.due(clock())):
                    break
                if len(session.outbox):
                    continue  # the call's own events (cleared, started) go out first
                deadline = session.next_deadline()
                timeout = None if deadline is None else max(0.0, (deadline - clock()) / scale)
                try:
                    kind, value = await asyncio.wait_for(self.inbox.get(), timeout)
                except TimeoutError:
                    continue
                if kind == "text":
                    session.receive(value, clock())
                    if isinstance(value, str) and '"output_audio_buffer.clear"' in value:
                        self._cut_if_clear(value)
                elif kind == "audio":
                    if not self.heard_ms:
                        self._note("the client's audio track started (Opus, read as 24 kHz PCM16)")
                    self.heard_ms += len(value) / 48
                    session.receive_audio(value, clock())
                elif kind == "played":
                    what, response_id = value
                    session.clock.now = clock()
                    session.inject(
                        {"type": f"output_audio_buffer.{what}", "response_id": response_id}
                    )
                elif kind == "end":
                    break
        finally:
            if self.heard_ms:
                self._note(f"{self.heard_ms:.0f} ms of audio came on the client's track")
            if self.lost:
                self._note(f"{self.lost} frames or events lost: the call's inbox was full")
            session.abandon()
            await self._hang_up()

    def _note(self, text: str) -> None:
        """A note in the call's transcript: the track's audio is no client event."""
        self.conn.transcript.add(self.session.clock.elapsed(), "note", "webrtc.audio", note=text)

    def _cut_if_clear(self, text: str) -> None:
        with contextlib.suppress(ValueError):
            if json.loads(text).get("type") == "output_audio_buffer.clear":
                self._cut()

    def _cut(self) -> None:
        """Cut the reply playing: ``output_audio_buffer.cleared``, and its item truncated at the
        audio that actually played (once its response is over), as live."""
        cut = self.track.clear()
        if cut is None:
            return
        response_id, item_id, played_ms = cut
        session = self.session
        session.inject({"type": "output_audio_buffer.cleared", "response_id": response_id})
        if item_id and session.active_response_id() != response_id:
            audio_ms = len(session.item_audio(item_id)) / BYTES_PER_MS[self._output_format()]
            truncate = {"item_id": item_id, "content_index": 0}
            truncate["audio_end_ms"] = int(min(played_ms, audio_ms))
            with contextlib.suppress(RealtimeError):  # not an audio message: nothing to cut
                HANDLERS["conversation.item.truncate"](session, truncate)

    def _output_format(self) -> str:
        output = self.session.config["audio"].get("output", {})
        return session_config.format_name(output.get("format"))

    async def _deliver(self, outputs: list[Any]) -> bool:
        """Send what the session said; False once the call is over."""
        for output in outputs:
            if isinstance(output, ServerEvent):
                event = output.event
                type_ = event.get("type")
                if type_ in AUDIO_DELTAS:
                    pcm = base64.b64decode(event["delta"])
                    self.track.push(event.get("response_id", ""), event.get("item_id", ""), pcm)
                    continue
                if type_ == "response.done":
                    self.track.finish(event["response"]["id"])
                await self._send(output.text)
                if type_ == "input_audio_buffer.speech_started" and self.track.playing:
                    self._cut()  # the client's speech interrupts the reply, as live
            elif isinstance(output, Close):
                self.conn.transcript.closed = (output.code, output.reason)
                if self._unsent:  # said before the channel opened: the client hears it first
                    with contextlib.suppress(TimeoutError):
                        await asyncio.wait_for(self._channel_ready.wait(), CHANNEL_OPEN_S)
                return False
            elif isinstance(output, Drop):
                self.conn.transcript.closed = (1006, "connection lost")
                return False
            elif isinstance(output, RawFrame):
                await self._send(output.data)
        return True

    async def _send(self, data: str | bytes) -> None:
        channel = self.channel
        if channel is not None and channel.readyState == "open":
            channel.send(data)
        elif channel is None and len(self._unsent) < MAX_UNSENT and isinstance(data, str):
            self._unsent.append(data)
        for ws in list(self.sidebands):
            try:
                await ws.send(data)
            except ConnectionClosed:
                self.sidebands.discard(ws)

    # ---- the ends ---------------------------------------------------------------------------

    async def join(self, ws: ServerConnection, conn: Connection) -> None:
        """Serve a sideband: its frames go to the call's session, the session's events come
        to it, until it closes or the call ends."""
        await self._opened.wait()
        if self._ended or self._session is None:
            await ws.close(1000, "the call has ended")
            return
        # Its frames and the events it gets are the call's transcript's (one record of the
        # session, whoever spoke); its own keeps its handshake and says where the rest is.
        conn.session = self.session
        conn.transcript.add(0.0, "note", "webrtc.sideband", note=f"joined call {self.id}")
        self.sidebands.add(ws)
        try:
            async for frame in ws:
                self._put("text", frame)
        except ConnectionClosed:
            pass
        finally:
            self.sidebands.discard(ws)

    async def end(self, code: int, reason: str) -> None:
        """End the call from the server's side (the server stopping)."""
        if self.conn.transcript.closed is None:
            self.conn.transcript.closed = (code, reason)
        self._put("end", None)
        await self._hang_up()

    async def _hang_up(self) -> None:
        if self._ended:
            return
        self._ended = True
        if self._watchdog is not None:
            self._watchdog.cancel()
        self._opened.set()  # a sideband waiting for the pump sees the call has ended
        self.server.calls.pop(self.id, None)
        if self.conn.transcript.closed is None:
            self.conn.transcript.closed = (1000, "call ended")
        for ws in list(self.sidebands):
            with contextlib.suppress(Exception):
                await ws.close(1000, "the call has ended")
        for task in list(self._tasks):
            task.cancel()
        self.track.stop()
        channel = self.channel
        if channel is not None and channel.readyState == "open":
            # Closed first, so the client hears of it now (a stream reset), not when its peer
            # notices the connection has gone.
            closed = asyncio.Event()
            channel.on("close", closed.set)
            channel.close()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(closed.wait(), CHANNEL_CLOSE_S)
        with contextlib.suppress(Exception):
            await self.pc.close()
