"""Audio memory: what a session holds for the audio streamed into it, against the raw PCM.

One sans-I/O :class:`~mock_server.session.session.Session` (``pace=0``, no socket) is fed
``minutes`` of the monologue fixture as PCM16 ``input_audio_buffer.append`` events, as a client
streams it: with server VAD (turns committed where the speech pauses; ``create_response`` off,
so that the model's reply audio, bounded apart, does not blur the figure) and with VAD off and a
commit every 5 s. Measured: the Python heap the session holds once the audio is in
(tracemalloc: traced size after gc minus the size before the session, a warm-up session run
first so that lazy imports are not counted), per audio-minute. The baseline, from the same run,
is the raw PCM16 the session received (2.88 MB a minute). Target: at most 1.2x the raw PCM.
The overhead that is left is the transcript's record of each append, kept as columns (about
30 bytes: its time, size, key order and place; ``transcript.EntryLog``), and its
``event_id``'s bytes: a few percent of a 20 ms chunk (960 bytes). A further row streams 20 ms
appends that each carry an ``event_id``.

    python -m bench.audio_memory                 # 5 audio-minutes per variant
    python -m bench.audio_memory --minutes 60    # a 60-minute session
"""

from __future__ import annotations

import argparse
import base64
import gc
import json
import tracemalloc

from bench import Row, monologue
from mock_server import audio
from mock_server.protocol.events import Dialect
from mock_server.session.options import SessionOptions
from mock_server.session.session import Session

QUICK = {"minutes": 2.0}
TINY = {"minutes": 0.1, "chunk_ms": (100,)}
COMMIT_EVERY_MS = 5000
RAW_PER_MINUTE = 60 * 48000  # bytes of 24 kHz PCM16


def held_audio_memory(
    minutes: float, chunk_ms: int, vad: bool, event_ids: bool = False
) -> tuple[int, int]:
    """(bytes a session holds after ``minutes`` of appends of ``chunk_ms``, bytes appended)."""
    pcm = monologue(min(minutes, 1.0) * 60)
    pieces = audio.chunk(pcm, chunk_ms)
    frames = [
        json.dumps({"type": "input_audio_buffer.append", "audio": base64.b64encode(p).decode()})
        for p in pieces
    ]
    if event_ids:  # each its own id, as a client numbering its events sends them
        frames = [f'{{"event_id":"evt_{n:016d}",{f[1:]}' for n, f in enumerate(frames)]
    total = round(minutes * 60_000 / chunk_ms)
    commit_every = COMMIT_EVERY_MS // chunk_ms
    turn = {"type": "server_vad", "create_response": False} if vad else None
    update = {"type": "realtime", "audio": {"input": {"turn_detection": turn}}}

    def drive(appends: int) -> tuple[Session, int]:
        session = Session(SessionOptions(dialect=Dialect.GA, pace=0.0, max_duration_s=None))
        now = 0.0
        session.open(now)
        session.receive(json.dumps({"type": "session.update", "session": update}), now)
        session.due(now)
        received = 0
        for n in range(appends):
            now += chunk_ms / 1000
            session.receive(frames[n % len(frames)], now)
            received += len(pieces[n % len(pieces)])
            if not vad and n % commit_every == commit_every - 1:
                session.receive('{"type":"input_audio_buffer.commit"}', now)
            session.due(now)  # what the server would send: taken, as a connection would
        return session, received

    drive(min(total, 200))  # warm-up: lazy imports and caches are not the session's
    was_tracing = tracemalloc.is_tracing()
    if not was_tracing:
        tracemalloc.start()
    try:
        gc.collect()
        before = tracemalloc.get_traced_memory()[0]
        session, received = drive(total)
        gc.collect()
        held = tracemalloc.get_traced_memory()[0] - before
        del session
    finally:
        if not was_tracing:
            tracemalloc.stop()
    return held, received


def run(minutes: float = 5.0, chunk_ms: tuple[int, ...] = (20, 100)) -> list[Row]:
    rows: list[Row] = []
    variants = [(ms, vad, False) for ms in chunk_ms for vad in (True, False)]
    variants += [(ms, True, True) for ms in chunk_ms if ms == 20]
    for ms, vad, ids in variants:
        held, received = held_audio_memory(minutes, ms, vad, ids)
        per_minute = held / received * RAW_PER_MINUTE
        how = "server VAD" if vad else "commit every 5 s"
        how += ", an event_id each" if ids else ""
        rows.append(
            (
                f"audio memory ({minutes:g} min, {ms} ms appends, {how})",
                f"{per_minute / 1e6:.2f} MB held per audio-minute",
                f"{RAW_PER_MINUTE / 1e6:.2f} MB raw PCM16 per minute",
                f"{held / received:.2f}x the raw PCM (target <= 1.2x)",
            )
        )
    return rows


if __name__ == "__main__":
    parser = argparse.ArgumentParser(prog="python -m bench.audio_memory")
    parser.add_argument("--minutes", type=float, default=5.0, help="audio-minutes per variant")
    args = parser.parse_args()
    for row in run(args.minutes):
        print(" | ".join(row))
