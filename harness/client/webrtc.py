"""A WebRTC client of the Realtime API, as a browser page is one: a peer with a microphone track
and the ``oai-events`` data channel, its SDP offer POSTed to ``/v1/realtime/calls``.

:class:`WebRtcCall` is what the tests (and ``realtime-mock client --transport webrtc``) use:
``send`` an event, ``recv``/``recv_until`` the server's, ``say`` PCM16 into the microphone (paced
in real time, silence otherwise), and read the reply's audio the remote track played
(``heard``). aiortc is imported here only, so the rest of the harness never pays for it.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import urllib.error
import urllib.request
from collections import deque
from collections.abc import Iterable
from typing import Any

import numpy as np
from aiortc import RTCConfiguration, RTCPeerConnection, RTCSessionDescription
from aiortc.mediastreams import MediaStreamTrack
from websockets.exceptions import ConnectionClosed
from websockets.frames import Close

from harness.client.errors import CallRefused
from mock_server.webrtc.media import FRAME_SAMPLES, PLAY_RATE, PacedTrack, read_track, upsample

RATE = PLAY_RATE
FRAME = FRAME_SAMPLES  # 20 ms
WAIT = 10.0


def calls_url(ws_url: str, *, beta: bool = False) -> str:
    """The WebRTC endpoint beside a WebSocket URL: ``/v1/realtime/calls`` (GA), or the
    beta-era ``POST /v1/realtime`` itself; the query (``?model=``) kept.

    >>> calls_url("ws://127.0.0.1:9/t/x/v1/realtime?model=gpt-realtime")
    'http://127.0.0.1:9/t/x/v1/realtime/calls?model=gpt-realtime'
    >>> calls_url("wss://h/v1/realtime", beta=True)
    'https://h/v1/realtime'
    """
    base, _, query = ws_url.partition("?")
    base = "http" + base[2:] if base.startswith("ws") else base
    if not beta:
        base = base.rstrip("/") + "/calls"
    return f"{base}?{query}" if query else base


class Microphone(PacedTrack):
    """The client's audio: what :meth:`say` queued (24 kHz PCM16), then silence, 20 ms a frame
    in real time."""

    def __init__(self) -> None:
        super().__init__()
        self._queue: deque[bytes] = deque()

    def say(self, pcm24: bytes) -> None:
        pcm48 = upsample(pcm24)
        for i in range(0, len(pcm48), FRAME * 2):
            self._queue.append(pcm48[i : i + FRAME * 2].ljust(FRAME * 2, b"\0"))

    @property
    def speaking(self) -> bool:
        return bool(self._queue)

    def next_frame(self) -> bytes:
        return self._queue.popleft() if self._queue else bytes(FRAME * 2)


class WebRtcCall:
    """One call to ``calls_url`` (``http://.../v1/realtime/calls``) with ``key``.

    ``form_session`` sends the offer as a backend does (multipart ``sdp`` + ``session``).
    """

    def __init__(
        self,
        calls_url: str,
        key: str,
        *,
        form_session: dict[str, Any] | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        self.calls_url = calls_url
        self.key = key
        self.form_session = form_session
        self.extra_headers = headers or {}
        self.frames: asyncio.Queue[str | None] = asyncio.Queue()  # None: the channel closed
        # No ICE servers: aiortc's default is a public STUN server, and a local call needs none.
        self.pc = RTCPeerConnection(RTCConfiguration(iceServers=[]))
        self.mic = Microphone()
        self.events: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
        self.heard = bytearray()  # the remote track's audio, 48 kHz mono PCM16 (bounded)
        self.heard_loud_frames = 0  # frames of it above -40 dBFS
        self.location: str | None = None
        self.call_id: str | None = None
        self._tasks: set[asyncio.Task[None]] = set()
        self._open = asyncio.Event()
        self.channel_closed = asyncio.Event()

    async def __aenter__(self) -> WebRtcCall:
        await self.connect()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    async def connect(self, wait: float = WAIT) -> None:
        pc = self.pc
        pc.addTrack(self.mic)
        self.channel = pc.createDataChannel("oai-events")
        self.channel.on("open", self._open.set)
        self.channel.on("message", self._on_message)
        self.channel.on("close", self._on_close)
        pc.on("track", self._on_track)
        await pc.setLocalDescription(await pc.createOffer())
        status, headers, body = await asyncio.to_thread(self._post, pc.localDescription.sdp)
        if status != 201:
            await self.close()
            try:
                error = json.loads(body)
            except ValueError:
                error = {"error": {"message": body.decode(errors="replace")}}
            raise CallRefused(status, error, headers)
        self.location = headers.get("location")
        self.call_id = (self.location or "").rsplit("/", 1)[-1] or None
        await pc.setRemoteDescription(RTCSessionDescription(sdp=body.decode(), type="answer"))
        await asyncio.wait_for(self._open.wait(), wait)

    def _post(self, sdp: str) -> tuple[int, dict[str, str], bytes]:
        headers = {"Authorization": f"Bearer {self.key}", **self.extra_headers}
        if self.form_session is None:
            data = sdp.encode()
            headers["Content-Type"] = "application/sdp"
        else:
            boundary = "realtime-mock-boundary"
            parts = [("sdp", sdp), ("session", json.dumps(self.form_session))]
            data = (
                b"".join(
                    f'--{boundary}\r\nContent-Disposition: form-data; name="{name}"\r\n\r\n'
                    f"{value}\r\n".encode()
                    for name, value in parts
                )
                + f"--{boundary}--\r\n".encode()
            )
            headers["Content-Type"] = f"multipart/form-data; boundary={boundary}"
        request = urllib.request.Request(self.calls_url, data=data, headers=headers, method="POST")
        try:
            with urllib.request.urlopen(request, timeout=WAIT) as response:
                return response.status, _lower(response.headers.items()), response.read()
        except urllib.error.HTTPError as refused:
            return refused.code, _lower(refused.headers.items()), refused.read()

    def _on_close(self) -> None:
        self.frames.put_nowait(None)
        self.channel_closed.set()

    def _on_message(self, message: str | bytes) -> None:
        if isinstance(message, str):
            self.events.put_nowait(json.loads(message))
            self.frames.put_nowait(message)

    def _on_track(self, track: MediaStreamTrack) -> None:
        if track.kind == "audio":
            task = asyncio.ensure_future(self._listen(track))
            self._tasks.add(task)

    async def _listen(self, track: MediaStreamTrack) -> None:
        await read_track(track, self._hear, rate=RATE)

    def _hear(self, pcm: bytes) -> None:
        samples = np.frombuffer(pcm, dtype="<i2").astype(np.float64)
        if samples.size and np.sqrt(np.mean(samples**2)) > 32768 * 0.01:
            self.heard_loud_frames += 1
        if len(self.heard) < 60 * RATE * 2:
            self.heard.extend(pcm)

    def send(self, event: dict[str, Any]) -> None:
        self.channel.send(json.dumps(event))

    def say(self, pcm24: bytes) -> None:
        """Speak ``pcm24`` (24 kHz PCM16) into the microphone, in real time from now."""
        self.mic.say(pcm24)

    async def recv(self, wait: float = WAIT) -> dict[str, Any]:
        return await asyncio.wait_for(self.events.get(), wait)

    async def recv_until(self, type_: str, wait: float = WAIT) -> dict[str, Any]:
        """The next event of ``type_`` (those before it are skipped), within ``wait``."""
        async with asyncio.timeout(wait):
            while True:
                event = await self.events.get()
                if event.get("type") == type_:
                    return event

    async def close(self) -> None:
        self._on_close()
        for task in self._tasks:
            task.cancel()
        self.mic.stop()
        with contextlib.suppress(Exception):
            await self.pc.close()


def _lower(items: Iterable[tuple[str, str]]) -> dict[str, str]:
    return {k.lower(): v for k, v in items}


class ChannelSocket:
    """A call's data channel as the reference client's connection uses a WebSocket: ``send``
    and ``recv`` text frames, ``close``, ``wait_closed``; a closed channel raises
    ``ConnectionClosed`` (without a close frame: a data channel carries no close code). Audio
    goes to the microphone (``say``), the reply's comes on the remote track."""

    def __init__(self, call: WebRtcCall) -> None:
        self.call = call
        self.closed = asyncio.Event()
        self.last_error: str | None = None

    def _closed(self) -> ConnectionClosed:
        # A channel carries no close code: a session that ended by its maximum duration (its
        # last error says so) reads as the WebSocket's 1001, so the client reconnects alike.
        if self.last_error == "session_expired":
            return ConnectionClosed(Close(1001, "session_expired"), None)
        return ConnectionClosed(None, None)

    async def send(self, text: str) -> None:
        if self.closed.is_set():
            raise self._closed()
        if self.call.channel.readyState == "open":
            self.call.channel.send(text)
        # else closing: lost, as on a closing WebSocket; recv() reads what came before the end

    async def recv(self) -> str:
        if self.closed.is_set():
            raise self._closed()
        frame = await self.call.frames.get()
        if frame is None:
            self.closed.set()
            raise self._closed()
        if '"error"' in frame:
            with contextlib.suppress(ValueError, AttributeError):
                error = json.loads(frame).get("error")
                if isinstance(error, dict):
                    self.last_error = error.get("code")
        return frame

    def say(self, pcm24: bytes) -> None:
        self.call.say(pcm24)

    async def close(self) -> None:
        self.closed.set()
        await self.call.close()

    async def wait_closed(self) -> None:
        await self.call.channel_closed.wait()
