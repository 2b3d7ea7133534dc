"""A call's audio: the client's track read into 24 kHz PCM16, and the reply's on the server's
track, paced in real time as a peer plays it (20 ms a frame)."""

from __future__ import annotations

import asyncio
import fractions
import time
from collections import deque
from collections.abc import Callable

import av
import numpy as np
from aiortc.mediastreams import MediaStreamError, MediaStreamTrack

PLAY_RATE = 48_000
FRAME_SAMPLES = PLAY_RATE // 50  # 20 ms
FRAME_BYTES = FRAME_SAMPLES * 2
SILENCE = bytes(FRAME_BYTES)
# The most reply audio the track holds (10 minutes at 48 kHz): what a session sends beyond it
# is dropped, so that a reply far ahead of its playing cannot grow the server's memory.
MAX_QUEUED_BYTES = 10 * 60 * PLAY_RATE * 2

# Told when a response's audio starts playing and when all of it has played.
OnPlay = Callable[[str, str], None]  # ("started" | "stopped", response id)


def upsample(pcm24: bytes) -> bytes:
    """24 kHz PCM16 to 48 kHz, each new sample between two old ones (linear).

    >>> upsample((1000).to_bytes(2, "little", signed=True) * 2) == (1000).to_bytes(2, "little") * 4
    True
    """
    samples = np.frombuffer(pcm24[: len(pcm24) // 2 * 2], dtype="<i2").astype(np.int32)
    if samples.size == 0:
        return b""
    out = np.empty(samples.size * 2, dtype=np.int32)
    out[0::2] = samples
    out[1::2] = (samples + np.append(samples[1:], samples[-1])) // 2
    return out.astype("<i2").tobytes()


class PacedTrack(MediaStreamTrack):
    """An audio track of 20 ms PCM16 frames at 48 kHz, sent in real time, as a peer plays it:
    a subclass says what each frame holds (:meth:`next_frame`, silence when it has none)."""

    kind = "audio"

    def __init__(self) -> None:
        super().__init__()
        self._start: float | None = None
        self._timestamp = 0

    def next_frame(self) -> bytes:
        raise NotImplementedError

    async def recv(self) -> av.AudioFrame:
        if self.readyState != "live":
            raise MediaStreamError
        if self._start is None:
            self._start = time.monotonic()
        else:
            self._timestamp += FRAME_SAMPLES
            wait = self._start + self._timestamp / PLAY_RATE - time.monotonic()
            if wait > 0:
                await asyncio.sleep(wait)
        frame = av.AudioFrame(format="s16", layout="mono", samples=FRAME_SAMPLES)
        frame.planes[0].update(self.next_frame())
        frame.pts = self._timestamp
        frame.sample_rate = PLAY_RATE
        frame.time_base = fractions.Fraction(1, PLAY_RATE)
        return frame


class ReplyTrack(PacedTrack):
    """The server's outgoing audio: the responses' audio in order, then silence."""

    def __init__(self, on_play: OnPlay) -> None:
        super().__init__()
        self._on_play = on_play
        # (response id, item id, 48 kHz PCM16), in the order they play
        self._queue: deque[tuple[str, str, bytearray]] = deque()
        self._queued = 0
        self._finished: set[str] = set()
        self.playing: str | None = None
        self.played_ms: dict[str, float] = {}  # by item id, what of its audio actually played
        self._item: str | None = None  # the item playing

    def push(self, response_id: str, item_id: str, pcm24: bytes) -> None:
        pcm = upsample(pcm24)
        if self._queued + len(pcm) > MAX_QUEUED_BYTES:
            return
        self._queued += len(pcm)
        if self._queue and self._queue[-1][:2] == (response_id, item_id):
            self._queue[-1][2].extend(pcm)
        else:
            self._queue.append((response_id, item_id, bytearray(pcm)))

    def finish(self, response_id: str) -> None:
        """No more audio comes for ``response_id`` (its ``response.done`` was sent)."""
        if any(entry[0] == response_id for entry in self._queue):
            self._finished.add(response_id)

    def clear(self) -> tuple[str, str | None, float] | None:
        """Cut the audio playing and queued: the response that was playing, if any, with the
        item it was playing and how many milliseconds of that item had played."""
        if self.playing is not None:
            cut = (self.playing, self._item, self.played_ms.get(self._item or "", 0.0))
        elif self._queue:
            cut = (self._queue[0][0], None, 0.0)
        else:
            cut = None
        self._queue.clear()
        self._queued = 0
        self._finished.clear()
        self.playing = self._item = None
        return cut

    def next_frame(self) -> bytes:
        while self._queue:
            response_id, item_id, pcm = self._queue[0]
            if self.playing != response_id:
                self.playing = response_id
                self._on_play("started", response_id)
            self._item = item_id
            if pcm:
                chunk = bytes(pcm[:FRAME_BYTES])
                del pcm[:FRAME_BYTES]
                self._queued -= len(chunk)
                played = self.played_ms.get(item_id, 0.0)
                self.played_ms[item_id] = played + len(chunk) / (PLAY_RATE * 2 / 1000)
                return chunk.ljust(FRAME_BYTES, b"\0")
            if len(self._queue) > 1 and self._queue[1][0] == response_id:
                self._queue.popleft()  # the response's next item
                continue
            if response_id not in self._finished:
                break  # more is coming: silence until it does
            self._queue.popleft()
            self._finished.discard(response_id)
            self.playing = self._item = None
            self._on_play("stopped", response_id)
        return SILENCE


async def read_track(
    track: MediaStreamTrack, sink: Callable[[bytes], None], rate: int = 24_000
) -> None:
    """Hand ``sink`` a peer's audio as mono PCM16 at ``rate`` (the session's 24 kHz by
    default), one decoded frame at a time, until the track ends."""
    resampler = av.AudioResampler(format="s16", layout="mono", rate=rate)
    while True:
        try:
            frame = await track.recv()
        except MediaStreamError:
            return
        if not isinstance(frame, av.AudioFrame):
            continue
        for out in resampler.resample(frame):
            sink(bytes(out.planes[0])[: out.samples * 2])
