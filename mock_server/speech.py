"""Reply speech: intelligible PCM16 for a reply's text, synthesised with eSpeak NG.

When a response must carry audio and nothing supplied any (the canned model, a ``respond:``
with text only), its audio is the text spoken by eSpeak NG: from the library and data the
``espeakng-loader`` wheel ships (the ``speech`` extra), else the system's ``libespeak-ng``
(Debian's ``espeak-ng``). Without either, :func:`synthesize` answers None and the caller
falls back to tone bursts (``responder.placeholder_speech``); so does
``REALTIME_MOCK_SPEECH=tones`` in the environment, and a text over :data:`MAX_SPEECH_CHARS`.

The samples are deterministic: the same text and voice give the same bytes, in any order of
calls, in any process of the same eSpeak NG build. eSpeak NG keeps state from one utterance to
the next (the pitch "flutter", and phase and filter memory that no call resets, not even
``espeak_Terminate``), so each utterance is spoken by a fresh fork of a small worker process
(``speech_worker.py``) that has loaded the library and never spoken; each voice has flutter
off and the random seed reset. Each Realtime voice name maps to a fixed pitch (an unknown name
to one of them, by a stable hash). A reply is spoken a phrase at a time (:func:`segments`),
each made in a thread (:func:`prefetch`): the first while the response's latency passes, each
next one while the one before streams. A response holds the event loop only for what is not
ready when its audio is due, one phrase at most (a session with no latency waits for its first):
~5-15 ms on an idle machine (the fork, the library's start, synthesis at ~500x real time,
resampling to 24 kHz), more under load. The worker starts once per process
(``server/warm.py`` for a server). Every phrase spoken is cached per
``(text, voice)``, the cache bounded in bytes and entries: a load test's or a suite's replies
repeat, and a cached phrase costs no fork, synthesis or resampling (the concurrency
benchmark's server spent 38% of its CPU speaking the same reply again). Windows (no ``fork``)
gets tones.
"""

from __future__ import annotations

import atexit
import ctypes
import ctypes.util
import logging
import os
import select
import subprocess
import sys
import threading
import zlib
from collections import OrderedDict
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path
from typing import IO, Any

import numpy as np

from mock_server.audio import resample, samples_to_pcm16
from mock_server.protocol.formats import SAMPLE_RATE

# A reply is spoken a phrase at a time (at most this many characters: ~8 s of speech, ~10 ms
# of synthesis on an idle machine), the next phrase made in a thread while one streams, so
# that no response holds the event loop for the whole of a long reply.
SEGMENT_CHARS = 120
# Longer text is left to the tone fallback (a scripted monologue; the canned model quotes at
# most 400 characters).
MAX_SPEECH_CHARS = 5_000
# Speech longer than this for its text (letters spelled out, "xxxxxxxx" is eight of them) is
# left to the tones too: a reply's audio stays about as long as its words (normal speech is
# ~70 ms a character).
MAX_MS_PER_CHAR = 120
MAX_MS_BASE = 1_000
# The cache, shared by every session of a process, holds the phrases spoken last, at most this
# many bytes in all (about 170 s of speech; the oldest go first): a whole phrase fits in an
# entry (SEGMENT_CHARS of text is about 8 s, 400 kB); a longer one is made for its response
# and kept by nothing after it.
CACHE_BYTES = 8_000_000
CACHE_ENTRY_BYTES = 600_000
CACHE_ENTRIES = 256

# Realtime voice -> (base pitch, pitch range) in eSpeak NG's voice-file units (Hz-like).
VOICES: dict[str, tuple[int, int]] = {
    "alloy": (110, 140),
    "ash": (82, 118),
    "ballad": (95, 130),
    "coral": (165, 220),
    "echo": (75, 110),
    "sage": (150, 200),
    "shimmer": (180, 240),
    "verse": (100, 150),
    "marin": (170, 230),
    "cedar": (88, 120),
}
DEFAULT_VOICE = "alloy"
# A worker that has not answered by then is taken as broken (tones from then on).
SPEAK_TIMEOUT_S = 30.0
# The longest answer: MAX_SPEECH_CHARS of speech, generously (eSpeak NG speaks at 22,050 Hz).
MAX_ANSWER_BYTES = 16_000_000

log = logging.getLogger("realtime_mock")


def voice_name(voice: Any) -> str:
    """The voice a session's ``voice`` setting names (GA may give ``{"id": ...}``).

    >>> voice_name("coral"), voice_name({"id": "ash"}), voice_name(None)
    ('coral', 'ash', 'alloy')
    """
    if isinstance(voice, dict):
        voice = voice.get("id")
    return voice if isinstance(voice, str) and voice else DEFAULT_VOICE


def _pitch(voice: str) -> tuple[int, int]:
    if voice in VOICES:
        return VOICES[voice]
    names = sorted(VOICES)
    return VOICES[names[zlib.crc32(voice.encode("utf-8")) % len(names)]]


def _library() -> tuple[str, str] | None:
    """The eSpeak NG library and its data folder ("" for the library's own default)."""
    if os.environ.get("REALTIME_MOCK_SPEECH", "").strip().lower() == "tones":
        return None
    if not hasattr(os, "fork"):
        return None  # the worker forks (Windows: tones)
    try:
        import espeakng_loader

        path = espeakng_loader.get_library_path()
        if os.path.isfile(path):
            return path, espeakng_loader.get_data_path()
    except (ImportError, RuntimeError):
        pass
    name = ctypes.util.find_library("espeak-ng")
    return (name, "") if name else None


class _Worker:
    """The speech worker process (``speech_worker.py``), one request at a time."""

    def __init__(self, library: str, data: str) -> None:
        script = Path(__file__).with_name("speech_worker.py")
        self._process = subprocess.Popen(
            [sys.executable, "-I", "-S", str(script), library, data],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            bufsize=0,
        )
        self._lock = threading.Lock()
        self._buffer = bytearray()
        self.pid = os.getpid()  # the process that owns the pipes

    def speak(self, text: str, voice: str) -> tuple[int, bytes]:
        data = text.encode("utf-8")
        pitch, span = _pitch(voice)
        process = self._process
        assert process.stdin is not None and process.stdout is not None
        with self._lock:
            process.stdin.write(b"%d %d %d\n" % (len(data), pitch, span) + data)
            process.stdin.flush()
            header = self._read(process.stdout, line=True)
            if header.startswith(b"error"):
                raise OSError(header.decode("utf-8", "replace").strip())
            rate, nbytes = (int(field) for field in header.split())
            return rate, self._read(process.stdout, nbytes)

    def _read(self, stream: IO[bytes], nbytes: int = 0, *, line: bool = False) -> bytes:
        # From the descriptor, through a buffer of our own: select() cannot see what a
        # buffered reader already holds.
        fd = stream.fileno()
        while True:
            if line and b"\n" in self._buffer:
                end = self._buffer.index(b"\n") + 1
            elif not line and len(self._buffer) >= nbytes:
                end = nbytes
            else:
                if len(self._buffer) > MAX_ANSWER_BYTES:
                    raise OSError("the speech worker's answer is too long")
                if not select.select([fd], [], [], SPEAK_TIMEOUT_S)[0]:
                    raise TimeoutError(f"no answer from the speech worker in {SPEAK_TIMEOUT_S:g} s")
                piece = os.read(fd, 1 << 16)
                if not piece:
                    raise OSError(f"the speech worker ended (status {self._process.poll()})")
                self._buffer += piece
                continue
            answer = bytes(self._buffer[:end])
            del self._buffer[:end]
            return answer

    def close(self) -> None:
        if self.pid != os.getpid():
            return  # the parent's worker, seen from a forked process
        if self._process.stdin is not None:
            self._process.stdin.close()
        try:
            self._process.wait(timeout=5)
        except subprocess.TimeoutExpired:
            self._process.kill()
            self._process.wait(timeout=5)
        if self._process.stdout is not None:
            self._process.stdout.close()


_worker: _Worker | None = None
_worker_lock = threading.Lock()
_broken = False


def _the_worker() -> _Worker | None:
    global _worker, _broken
    with _worker_lock:
        if _worker is not None and _worker.pid != os.getpid():
            _worker = None  # a forked process (serve --workers): its own worker, not the pipes
        if _worker is None and not _broken:
            found = _library()
            if found is None:
                _broken = True
                return None
            try:
                _worker = _Worker(*found)
            except OSError as exc:
                _broken = True
                log.warning("realtime-mock: no speech worker (%s); replies get tones", exc)
                return None
            atexit.register(_worker.close)
        return _worker


def available() -> bool:
    """Whether replies get spoken words (eSpeak NG found and working) rather than tones."""
    return not _broken and _library() is not None


def warm_up() -> None:
    """Start the speech worker and have it speak once, off the event loop."""
    if available():
        synthesize(".")


_cache: OrderedDict[tuple[str, str], bytes] = OrderedDict()
_cache_bytes = 0
_cache_lock = threading.Lock()


def synthesize(text: str, voice: Any = None) -> bytes | None:
    """``text`` spoken in ``voice``, PCM16 24 kHz mono; None when there is no eSpeak NG, the
    text is over :data:`MAX_SPEECH_CHARS`, or it would be spelled out (the caller makes tones).

    >>> a = synthesize("Hello.", "coral")
    >>> a is None or (a == synthesize("Hello.", "coral") and len(a) > 4_800)
    True
    """
    with _cache_lock:
        ahead = _pending.pop((text, voice_name(voice)), None)
    if ahead is not None:
        return ahead.result(timeout=SPEAK_TIMEOUT_S + 1)
    return _synthesize(text, voice)


def _synthesize(text: str, voice: Any = None) -> bytes | None:
    global _cache_bytes, _broken
    if not available() or len(text) > MAX_SPEECH_CHARS:
        return None
    key = (text, voice_name(voice))
    with _cache_lock:
        cached = _cache.get(key)
        if cached is not None:
            _cache.move_to_end(key)
            return cached or None  # b"": refused, see below
    worker = _the_worker()
    if worker is None:
        return None
    try:
        rate, raw = worker.speak(*key)
    except (OSError, ValueError) as exc:  # a worker that cannot speak: tones from now on
        _broken = True
        log.warning("realtime-mock: reply speech failed (%s); replies get tones instead", exc)
        return None
    pcm = b""  # spelled out, or otherwise far longer than its words: tones
    if len(raw) / 2 / rate * 1000 <= MAX_MS_BASE + MAX_MS_PER_CHAR * len(text):
        pcm = samples_to_pcm16(resample(np.frombuffer(raw, dtype=np.int16), rate, SAMPLE_RATE))
    with _cache_lock:
        if key not in _cache and len(pcm) <= CACHE_ENTRY_BYTES:
            _cache[key] = pcm
            _cache_bytes += len(pcm)
            while _cache and (_cache_bytes > CACHE_BYTES or len(_cache) > CACHE_ENTRIES):
                _, dropped = _cache.popitem(last=False)
                _cache_bytes -= len(dropped)
    return pcm or None


def segments(text: str) -> list[str]:
    """``text`` in phrases of at most :data:`SEGMENT_CHARS` (a word longer than that alone),
    cut after punctuation where it can be, else between words; joined by spaces they are the
    text's words.

    >>> segments("One. Two, three")
    ['One. Two, three']
    >>> [len(s) <= SEGMENT_CHARS for s in segments("word " * 100)] == [True] * 5
    True
    """
    pieces: list[str] = []
    current: list[str] = []
    for word in text.split():
        candidate = " ".join([*current, word])
        if current and len(candidate) > SEGMENT_CHARS:
            # Cut after the last word that ends a clause, if there is one.
            cut = max((n for n, w in enumerate(current) if w[-1] in ".!?;:,"), default=-1) + 1
            if cut == 0:
                cut = len(current)
            pieces.append(" ".join(current[:cut]))
            current = current[cut:]
        current.append(word)
    if current:
        pieces.append(" ".join(current))
    return pieces


_ahead = ThreadPoolExecutor(1, thread_name_prefix="realtime-mock-speech")
_pending: dict[tuple[str, str], Future[bytes | None]] = {}
MAX_PENDING = 16  # phrases made ahead, across sessions; each reply forgets its own when it stops


def prefetch(text: str, voice: Any = None) -> bool:
    """Start speaking ``text`` in a thread; a later :func:`synthesize` of it waits for that
    rather than speaking it again (the next phrase of a reply, while this one streams).
    Whether this call started it: only then is it the caller's to :func:`forget` (another
    session's reply may be making the same phrase)."""
    key = (text, voice_name(voice))
    with _cache_lock:
        if key in _cache or key in _pending or len(_pending) >= MAX_PENDING or not available():
            return False
        _pending[key] = _ahead.submit(_synthesize, text, voice)
        return True


def forget(text: str, voice: Any = None) -> None:
    """Drop what :func:`prefetch` started for ``text`` (a reply that stopped early)."""
    with _cache_lock:
        dropped = _pending.pop((text, voice_name(voice)), None)
    if dropped is not None:
        dropped.cancel()  # not made at all if the thread has not started on it


def idle(timeout: float) -> None:
    """Wait (bounded) until the phrases started ahead are made or cancelled: a test measuring a
    session's memory counts the speech thread's work in progress otherwise."""
    _ahead.submit(lambda: None).result(timeout)


def clear_cache() -> None:
    """Forget every cached utterance (the tests' fresh start)."""
    global _cache_bytes
    with _cache_lock:
        _cache.clear()
        _cache_bytes = 0
