"""Deterministic server-VAD emulation on the PCM16 24 kHz audio a client streams.

The signal is cut into 10 ms frames at absolute positions (so how the client chunks its audio
never matters: the same bytes give the same events at the same offsets), and a frame is voiced
when its RMS level is above the threshold's level. ``threshold`` (0..1, as in the API) maps
linearly to a level in dBFS: 0 -> -70 dBFS, 0.5 -> -40 dBFS, 1 -> -10 dBFS.

The offsets follow the openai SDK's docstrings: they bound the audio sent to the model, which
is the turn the buffer commits (docs/protocol-notes.md).

- Speech starts after :data:`MIN_SPEECH_MS` of consecutive voiced frames (a click is not
  speech); ``audio_start_ms`` is the start of the first of them less ``prefix_padding_ms``,
  but never before the buffer's own start (the end of the previous turn, commit or clear).
- Speech stops once ``silence_duration_ms`` of unvoiced frames follow it; ``audio_end_ms`` is
  the end of that silence (the end of the last voiced frame plus ``silence_duration_ms``,
  rounded to 10 ms frames). The event is due then, so a client sees ``speech_stopped``
  ``silence_duration_ms`` after the speech ended, as live.

Offsets count all audio written in the session (``offset_ms`` carries them across resets).
``semantic_vad`` is emulated as server VAD with the silence its ``eagerness`` implies:
high 250 ms, medium/auto 500 ms, low 1000 ms, and the default 300 ms of prefix padding.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from mock_server.protocol.formats import SAMPLE_RATE

FRAME_MS = 10
FRAME_SAMPLES = SAMPLE_RATE * FRAME_MS // 1000
FRAME_BYTES = FRAME_SAMPLES * 2
MIN_SPEECH_MS = 30
SEMANTIC_SILENCE_MS = {"high": 250, "medium": 500, "auto": 500, "low": 1000}
MAX_BLOCK_BYTES = 1000 * FRAME_BYTES  # 10 s of audio analysed at a time


@dataclass(frozen=True)
class VadConfig:
    threshold: float = 0.5
    prefix_padding_ms: int = 300
    silence_duration_ms: int = 500

    @property
    def level_dbfs(self) -> float:
        return -70.0 + 60.0 * min(max(self.threshold, 0.0), 1.0)


@dataclass(frozen=True)
class SpeechStarted:
    audio_start_ms: int


@dataclass(frozen=True)
class SpeechStopped:
    audio_end_ms: int


VadEvent = SpeechStarted | SpeechStopped


class ServerVad:
    """Feed it PCM16 bytes in any chunks; it returns speech start and stop events.

    >>> vad = ServerVad(VadConfig(silence_duration_ms=200))
    >>> tone = (np.sin(np.arange(24000) / 5) * 8000).astype("<i2").tobytes()
    >>> vad.feed(bytes(24000) + tone + bytes(24000))
    [SpeechStarted(audio_start_ms=200), SpeechStopped(audio_end_ms=1700)]

    The speech runs from 500 to 1500 ms: the turn starts 300 ms (the default prefix padding)
    before it and ends 200 ms (the silence duration) after it.
    """

    def __init__(
        self, config: VadConfig, *, offset_ms: int = 0, buffer_start_ms: float | None = None
    ) -> None:
        """``buffer_start_ms``: where the audio the buffer holds begins (default
        ``offset_ms``); the prefix padding never reaches before it."""
        self.config = config
        self._pending = bytearray()
        self._frames_done = 0
        self._offset_ms = offset_ms
        self._buffer_start_ms = float(offset_ms if buffer_start_ms is None else buffer_start_ms)
        # Squared-amplitude level a frame's mean must exceed to be voiced.
        self._power_threshold = (32768.0 * 10 ** (config.level_dbfs / 20)) ** 2
        self._voiced_run = 0
        self._silent_run = 0
        self._in_speech = False

    @staticmethod
    def for_semantic(eagerness: str = "auto") -> VadConfig:
        """The server-VAD configuration that emulates ``semantic_vad`` with ``eagerness``."""
        return VadConfig(silence_duration_ms=SEMANTIC_SILENCE_MS.get(eagerness, 500))

    @property
    def position_ms(self) -> float:
        return self._offset_ms + (self._frames_done * FRAME_BYTES + len(self._pending)) / 48

    @property
    def in_speech(self) -> bool:
        return self._in_speech

    @property
    def undecided_ms(self) -> float:
        """How much of the latest audio may still become the start of speech: the voiced run
        not yet long enough to count, and the partial frame. Audio before it (and before the
        prefix padding) can never be part of a turn while no speech is going on."""
        return (self._voiced_run * FRAME_BYTES + len(self._pending)) / 48

    def interrupt(self) -> SpeechStopped | None:
        """End the speech going on, if any (the buffer is cleared or committed mid-speech, or
        the VAD is reconfigured): its ``SpeechStopped``, at the end of the audio written (all
        of it goes to the model on a commit), so that every ``speech_started`` has its
        ``speech_stopped``. Then :meth:`reset`."""
        stopped = SpeechStopped(round(self.position_ms)) if self._in_speech else None
        self.reset()
        return stopped

    def reset(self) -> None:
        """Forget the speech state (the buffer was committed or cleared, and starts afresh
        here); keep the position."""
        self._voiced_run = 0
        self._silent_run = 0
        self._in_speech = False
        self._buffer_start_ms = self.position_ms

    def feed(self, pcm16: bytes) -> list[VadEvent]:
        if len(pcm16) <= MAX_BLOCK_BYTES:
            return self._feed(pcm16)
        # A big append (up to 15 MiB) in blocks: the float64 work array of a block is 4x its
        # size, so one block at a time bounds the memory a single append can take.
        view = memoryview(pcm16)
        events: list[VadEvent] = []
        for start in range(0, len(pcm16), MAX_BLOCK_BYTES):
            events += self._feed(view[start : start + MAX_BLOCK_BYTES])
        return events

    def _feed(self, pcm16: bytes | memoryview) -> list[VadEvent]:
        block: bytes | bytearray | memoryview
        if not self._pending and len(pcm16) % FRAME_BYTES == 0:
            block = pcm16  # whole frames, as clients usually send: no copy
        else:
            self._pending.extend(pcm16)
            whole = len(self._pending) // FRAME_BYTES * FRAME_BYTES
            block = bytes(self._pending[:whole])
            del self._pending[:whole]
        count = len(block) // FRAME_BYTES
        if count == 0:
            return []
        squares = np.frombuffer(block, dtype="<i2").astype(np.float64)
        np.multiply(squares, squares, out=squares)
        # Each frame's sum of squares is exact in float64 (integers under 2**53), so this is
        # np.mean's value without its overhead, which dominates for a chunk of a few frames.
        power = np.add.reduce(squares.reshape(count, FRAME_SAMPLES), axis=1)
        power /= FRAME_SAMPLES
        voiced = (power > self._power_threshold).tolist()
        # The usual chunk changes no state but counters: silence outside speech, or voice
        # inside it (the loop below would step through it frame by frame to the same end).
        if not self._in_speech and not any(voiced):
            self._frames_done += count
            self._voiced_run = 0
            return []
        if self._in_speech and all(voiced):
            self._frames_done += count
            self._voiced_run += count
            self._silent_run = 0
            return []
        events: list[VadEvent] = []
        min_frames = MIN_SPEECH_MS // FRAME_MS
        silence_frames = max(1, self.config.silence_duration_ms // FRAME_MS)
        for flag in voiced:
            index = self._frames_done
            self._frames_done += 1
            if flag:
                self._voiced_run += 1
                self._silent_run = 0
                if not self._in_speech and self._voiced_run >= min_frames:
                    self._in_speech = True
                    start = self._frame_ms(index + 1 - self._voiced_run)
                    padded = max(start - self.config.prefix_padding_ms, self._buffer_start_ms)
                    events.append(SpeechStarted(math.ceil(padded)))
            else:
                self._voiced_run = 0
                if self._in_speech:
                    self._silent_run += 1
                    if self._silent_run >= silence_frames:
                        self._in_speech = False
                        self._silent_run = 0
                        end = self._frame_ms(index + 1)
                        self._buffer_start_ms = end  # the turn ends here; the next starts here
                        events.append(SpeechStopped(end))
        return events

    def _frame_ms(self, frame_index: int) -> int:
        return self._offset_ms + frame_index * FRAME_MS
