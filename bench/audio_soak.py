"""Audio soak over a socket: one session streams an hour of audio; the server's RSS per minute.

``realtime-mock serve --pace fast`` in its own process; one GA session with server VAD
(``create_response: false``, so that reply audio, bounded apart, stays out of the figure)
streams ``minutes`` of the monologue fixture as 20 ms PCM16 appends (no event_id), as fast as
the socket takes them. At each checkpoint the client waits for the server to have handled
every frame sent (a ``session.update`` answered by ``session.updated``) and reads the server's
RSS (``VmRSS`` of ``/proc/PID/status``). The figure is the RSS grown per audio-minute between
the first checkpoint (after a minute of warm-up audio) and the last; the baseline, from the same
run, is the raw PCM16 streamed (2.88 MB a minute). Past 46 audio-minutes the conversation's audio
cap lets the oldest turns' audio go, so an hour's figure is also printed to that point.

    python -m bench.audio_soak                  # 60 audio-minutes (about a minute)
    python -m bench.audio_soak --minutes 10
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import json
import re
import subprocess
from pathlib import Path

from websockets.asyncio.client import connect

from bench import Row, monologue, python, subprocess_env
from mock_server import audio

QUICK = {"minutes": 10.0}
TINY = {"minutes": 1.5}
CHUNK_MS = 20
RAW_PER_MINUTE = 60 * 48000  # bytes of 24 kHz PCM16
CAPPED_AFTER_MIN = 46.0  # the conversation's audio cap (MAX_CONVERSATION_AUDIO_BYTES)
WAIT = 60.0


def _rss(pid: int) -> int:
    status = Path(f"/proc/{pid}/status").read_text()
    match = re.search(r"^VmRSS:\s+(\d+) kB", status, re.M)
    if match is None:  # pragma: no cover - not Linux
        raise RuntimeError("no VmRSS in /proc: this benchmark needs Linux")
    return int(match.group(1)) * 1024


async def _stream(url: str, pid: int, minutes: float) -> list[tuple[float, int]]:
    """(audio-minutes streamed, server RSS) at each checkpoint."""
    pieces = audio.chunk(monologue(60), CHUNK_MS)
    frames = [
        json.dumps({"type": "input_audio_buffer.append", "audio": base64.b64encode(p).decode()})
        for p in pieces
    ]
    turn = {"type": "server_vad", "create_response": False}
    update = json.dumps(
        {
            "type": "session.update",
            "session": {"type": "realtime", "audio": {"input": {"turn_detection": turn}}},
        }
    )
    per_minute = 60_000 // CHUNK_MS
    total = round(minutes * per_minute)
    checkpoints = sorted({per_minute, *range(per_minute * 5, total, per_minute * 5), total})
    points: list[tuple[float, int]] = []
    async with connect(url, additional_headers={"Authorization": "Bearer sk-bench"}) as ws:
        reader_done = asyncio.Event()
        synced: asyncio.Queue[None] = asyncio.Queue()

        async def read() -> None:
            async for message in ws:
                kind = json.loads(message)["type"]
                if kind == "session.updated":
                    synced.put_nowait(None)
                elif kind == "error":
                    raise RuntimeError(f"the server answered an error: {message[:300]}")
            reader_done.set()

        reader = asyncio.create_task(read())
        await ws.send(update)
        await asyncio.wait_for(synced.get(), WAIT)
        sent = 0
        for checkpoint in checkpoints:
            while sent < checkpoint:
                await ws.send(frames[sent % len(frames)])
                sent += 1
            await ws.send(update)
            await asyncio.wait_for(synced.get(), WAIT)
            points.append((sent / per_minute, _rss(pid)))
        reader.cancel()
    return points


def run(minutes: float = 60.0) -> list[Row]:
    process = subprocess.Popen(
        [python(), "-m", "harness.cli", "serve", "--port", "0", "--pace", "fast"],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
        env=subprocess_env(),
    )
    try:
        assert process.stdout is not None
        line = process.stdout.readline()
        match = re.search(r"ws://\S+", line)
        if match is None:
            raise RuntimeError(f"realtime-mock serve did not start: {line!r}")
        points = asyncio.run(_stream(match.group(0) + "?model=gpt-realtime", process.pid, minutes))
    finally:
        process.terminate()
        process.wait(10)
    (m0, r0), (m1, r1) = points[0], points[-1]
    rows: list[Row] = []
    uncapped = [p for p in points if p[0] <= CAPPED_AFTER_MIN]
    spans = [("", m1, r1)]
    if uncapped[-1][0] < m1 and len(uncapped) > 1:
        spans.insert(0, (f" to {uncapped[-1][0]:g} min (under the audio cap)", *uncapped[-1]))
    for label, m, r in spans:
        grown = (r - r0) / (m - m0)
        rows.append(
            (
                f"audio soak over a socket ({m1:g} min of 20 ms appends, pace fast){label}",
                f"server RSS +{grown / 1e6:.2f} MB per audio-minute "
                f"({r0 / 1e6:.0f} MB at {m0:g} min, {r / 1e6:.0f} MB at {m:g} min)",
                f"{RAW_PER_MINUTE / 1e6:.2f} MB raw PCM16 per minute",
                f"{grown / RAW_PER_MINUTE:.2f}x the raw PCM (target <= 1.2x)",
            )
        )
    return rows


if __name__ == "__main__":
    parser = argparse.ArgumentParser(prog="python -m bench.audio_soak")
    parser.add_argument("--minutes", type=float, default=60.0, help="audio-minutes to stream")
    args = parser.parse_args()
    for row in run(args.minutes):
        print(" | ".join(row))
