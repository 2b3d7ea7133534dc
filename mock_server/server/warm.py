"""What every session needs, built once per process: the validators, the transcriber and the
speech worker.

Built by a first session instead, they stalled the event loop (and every other session) for
over a second; the server builds them in a worker thread before it accepts a connection.
"""

from __future__ import annotations

import functools
import gc
import logging
from collections.abc import Callable

log = logging.getLogger("realtime_mock")


@functools.cache
def warm_up() -> None:
    """Build what a session needs once per process, so that the first session does not build
    it on the event loop (over a second of pydantic schemas, stalling every other session).
    Runs in a worker thread; a failure is logged, and the sessions then build it lazily."""
    from mock_server.protocol.validation import warm_up as build_validators
    from mock_server.speech import warm_up as speech_warm_up

    try:
        build_validators()
        default_transcriber()
        speech_warm_up()
        # What is alive now (modules, the SDK's models, the validators just built) lives as
        # long as the process: frozen, the cyclic collector no longer walks it. A full
        # collection walked ~160,000 such objects (90 ms; in a test process, over a second)
        # whenever sessions allocate many containers, stalling every session.
        gc.collect()
        gc.freeze()
    except Exception:  # pragma: no cover - a broken SDK install; sessions say what fails
        log.exception("realtime-mock: warming up failed; sessions build their validators lazily")


@functools.cache
def default_transcriber() -> Callable[[bytes], str | None]:
    """Input transcription by recognising the fixtures a client streams (see fingerprint)."""
    from mock_server.fingerprint import FingerprintIndex

    return FingerprintIndex.from_manifest().transcribe
