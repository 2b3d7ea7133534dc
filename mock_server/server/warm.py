"""What every session needs, built once per process: the validators, the transcriber and the
speech worker.

Built by a first session instead, they stalled the event loop (and every other session) for
over a second; the server builds them in a worker thread once it listens, and a connection
waits for them before its session starts.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import gc
import importlib
import logging
import sys
import threading
from collections.abc import Callable

log = logging.getLogger("realtime_mock")


_WARMING = threading.Lock()  # servers started at once (each its loop) warm up once, in turn
# Modules the warm-up imports too: what a server's parts load on first use (the plain-HTTP
# parser, the control API's scenario machinery, the report), so that no first request loads
# them on the event loop every session shares.
_ALSO: list[str] = ["h11", "mock_server.transcript"]


def also(module: str) -> None:
    """Have the warm-up import ``module`` as well (at once, in a thread, if it has run)."""
    if module in _ALSO:
        return
    _ALSO.append(module)
    if is_warm():
        threading.Thread(target=_import_quietly, args=(module,), daemon=True).start()


def _import_quietly(module: str) -> None:
    try:
        importlib.import_module(module)
    except Exception:  # pragma: no cover - then its first use says what fails
        log.exception("realtime-mock: warming up %s failed", module)


def warm_up() -> None:
    """Build what a session needs once per process, so that the first session does not build
    it on the event loop (over a second of pydantic schemas, stalling every other session).
    Runs in a worker thread; a failure is logged, and the sessions then build it lazily."""
    with _WARMING:
        _warm_up()


@functools.cache
def _warm_up() -> None:
    try:
        # The session package (numpy, the SDK's models): `serve` listens before it loads.
        import mock_server.session  # noqa: F401
        from mock_server.protocol.validation import warm_up as build_validators
        from mock_server.speech import warm_up as speech_warm_up

        build_validators()
        default_transcriber()
        speech_warm_up()
        for module in list(_ALSO):
            _import_quietly(module)
        # What is alive now (modules, the SDK's models, the validators just built) lives as
        # long as the process: frozen, the cyclic collector no longer walks it. A full
        # collection walked ~160,000 such objects (90 ms; in a test process, over a second)
        # whenever sessions allocate many containers, stalling every session. Only the young
        # generations are collected first: a full collection found nothing to free after the
        # imports, and held the GIL (so the listening loop) for ~80 ms.
        gc.collect(1)
        gc.freeze()
    except Exception:  # pragma: no cover - a broken SDK install; sessions say what fails
        log.exception("realtime-mock: warming up failed; sessions build their validators lazily")


def is_warm() -> bool:
    """Whether :func:`warm_up` has run in this process."""
    return _warm_up.cache_info().currsize > 0


def warming() -> asyncio.Future[None]:
    """:func:`warm_up` started in a thread of its own (done already when it has run): what
    ``MockServer.start`` starts as it listens, and each connection's handler awaits before its
    session starts. Awaited before listening, it made ``serve`` listen a second later; built by
    a first session instead, it stalled the loop (and every other session). The thread is a
    daemon: a process that ends before the warm-up does (``run`` with a client that never
    connects) does not wait for it."""
    loop = asyncio.get_running_loop()
    done: asyncio.Future[None] = loop.create_future()
    if is_warm():
        done.set_result(None)
        return done

    def build() -> None:
        warm_up()  # logs its own failure: the future says done either way
        with contextlib.suppress(RuntimeError):  # the loop has closed meanwhile
            loop.call_soon_threadsafe(_settle, done)

    threading.Thread(target=build, name="realtime-mock-warm-up", daemon=True).start()
    return done


# How long stopping waits for a warm-up still running: a process that exits while the warm-up
# thread is inside an import or a C extension can abort at interpreter shutdown (SIGABRT).
FINISH_S = 5.0


async def finished(warm: asyncio.Future[None] | None) -> None:
    """Wait (bounded) for a warm-up that is still running; what ``MockServer.stop`` does."""
    if warm is not None and not warm.done():
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(asyncio.shield(warm), FINISH_S)


def _settle(future: asyncio.Future[None]) -> None:
    if not future.done():
        future.set_result(None)


@functools.cache
def default_transcriber() -> Callable[[bytes], str | None]:
    """Input transcription by recognising the fixtures a client streams (see fingerprint)."""
    from mock_server.fingerprint import FingerprintIndex

    return FingerprintIndex.from_manifest().transcribe


# glibc's mallopt parameter for the size from which an allocation gets its own mapping.
_M_MMAP_THRESHOLD = -3
MMAP_THRESHOLD = 128 * 1024


def fix_mmap_threshold() -> bool:
    """Keep glibc's mmap threshold at its default (128 KiB) for the whole process; whether it
    could (glibc only). glibc raises the threshold each time a mapped block is freed, so a
    session's audio buffers (one per turn, hundreds of KiB, grown by realloc) soon come from
    the heap, where the holes they leave add 0.15x the audio to the RSS of a long session
    (``bench/audio_soak.py``); mapped, each goes back to the system when it is freed. For
    ``serve``'s process only: a library does not set its host's allocator."""
    if not sys.platform.startswith("linux"):
        return False
    try:
        import ctypes

        mallopt = ctypes.CDLL(None).mallopt
    except (OSError, AttributeError):  # pragma: no cover - not glibc
        return False
    return bool(mallopt(_M_MMAP_THRESHOLD, MMAP_THRESHOLD))
