"""Concurrency: how many sessions streaming audio in real time with server VAD one core serves.

The mock (``realtime-mock serve``) runs in a subprocess pinned to one core; the load generator
runs in another process pinned to the other core. Each of N sessions streams, in real time and
in 20 ms chunks, cycles of 3 s: the ``question`` fixture (speech from 300 to 1700 ms, as
``fixtures/audio/manifest.yaml`` records) then silence, with the session's default server VAD
(500 ms of silence ends a turn; the mock then streams its spoken answer at real-time pace,
which the next question interrupts). Sessions start staggered over a cycle, as independent
callers would.

The figure is the delay from a turn's last speech frame to its
``input_audio_buffer.speech_stopped``, beyond the configured silence: measured from sending the
chunk that completes the silence (so that the load generator's own lateness, on a shared
machine, does not count) to receiving the event. 0 is ideal, and a loaded server shows it first
here. A probe at N passes when the p99 delay over every turn of every session is under 50 ms (a
turn with no ``speech_stopped`` fails it); a failing probe is tried once more (noise from other
processes only ever adds delay). The search doubles N until a probe fails, then bisects, within
a time budget; the result is the largest N that passed (target: at least 200). The baseline, in
the same run, is the same probe at 1 session.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import json
import math
import os
import random
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import yaml

from bench import Row, end, listening_url, python, run_load, subprocess_env
from bench import cpu_seconds as _cpu_seconds
from bench import pin as _pin

QUICK = {"budget_s": 60.0, "cycles": 1}
TINY = {"budget_s": 20.0, "cycles": 1, "start": 2, "max_probes": 1, "stagger": False}

CHUNK_MS = 20
CYCLE_MS = 3000
LIMIT_MS = 50.0
SERVER_CORE = 0
LOAD_CORE = 1


# ---- the load generator (its own process) ---------------------------------------------------


def _cycle_frames() -> tuple[list[str], int]:
    """The append frames of one cycle, and the end of its speech in ms (from the manifest)."""
    from mock_server import audio, resources

    manifest = yaml.safe_load((resources.AUDIO / "manifest.yaml").read_text())
    speech_end_ms = int(manifest["question"]["speech_ms"][-1][1])
    pcm = audio.load_wav(resources.AUDIO / manifest["question"]["file"]).tobytes()
    cycle = (pcm + bytes(CYCLE_MS * 48))[: CYCLE_MS * 48]
    frames = [
        json.dumps(
            {
                "type": "input_audio_buffer.append",
                "audio": base64.b64encode(piece).decode("ascii"),
            }
        )
        for piece in audio.chunk(cycle, CHUNK_MS)
    ]
    return frames, speech_end_ms


@dataclass
class _Caller:
    stagger_ticks: int
    ws: Any = None
    silence_ms: int = 500
    silence_chunk: int = 0
    silence_heard: dict[int, float] = field(default_factory=dict)
    stopped_at: dict[int, float] = field(default_factory=dict)


async def _load(url: str, sessions: int, cycles: int, stagger: bool) -> dict[str, Any]:
    from bench import rawws

    texts, speech_end_ms = _cycle_frames()
    # Each frame built once, sent as ready bytes (bench/rawws.py: the load generator's CPU
    # would otherwise come out of the workers' in bench.workers).
    frames = [rawws.text_frame(text) for text in texts]
    per_cycle = len(frames)
    rng = random.Random(8)
    callers = [_Caller(rng.randrange(per_cycle) if stagger else 0) for _ in range(sessions)]
    headers = {"Authorization": "Bearer sk-bench"}
    gate = asyncio.Semaphore(32)

    def listener(caller: _Caller) -> Callable[[bytes], None]:
        def on_text(frame: bytes) -> None:
            if b"input_audio_buffer.speech_stopped" in frame:
                received = time.perf_counter()
                end_ms = json.loads(frame)["audio_end_ms"]
                caller.stopped_at[end_ms // CYCLE_MS] = received

        return on_text

    async def open_session(caller: _Caller) -> None:
        async with gate:
            caller.ws = await rawws.connect(url, headers, timeout=60)
            created = json.loads(await asyncio.wait_for(caller.ws.recv(), 60))
            turn = created["session"]["audio"]["input"]["turn_detection"]
            caller.silence_ms = int(turn["silence_duration_ms"])
            # The chunk that completes the silence after the last speech frame: from its
            # sending on, speech_stopped is due.
            caller.silence_chunk = math.ceil((speech_end_ms + caller.silence_ms) / CHUNK_MS) - 1
            caller.ws.on_text = listener(caller)

    await asyncio.wait_for(asyncio.gather(*(open_session(c) for c in callers)), 120)

    total = per_cycle * cycles
    # Each cycle ends in more silence than a turn needs to end.
    ticks = max(c.stagger_ticks for c in callers) + total
    loop = asyncio.get_running_loop()
    start = loop.time() + 0.05
    lateness: list[float] = []
    for tick in range(ticks):
        # Chunk k of a caller holds audio [20k, 20k + 20) ms: it is sent once recorded.
        await asyncio.sleep(max(0.0, start + (tick + 1) * CHUNK_MS / 1000 - loop.time()))
        lateness.append(loop.time() - (start + (tick + 1) * CHUNK_MS / 1000))
        for caller in callers:
            index = tick - caller.stagger_ticks
            if index < 0:
                continue
            frame = frames[index % per_cycle] if index < total else frames[-1]
            caller.ws.send(frame)
            if index < total and index % per_cycle == caller.silence_chunk:
                caller.silence_heard[index // per_cycle] = time.perf_counter()
    await asyncio.sleep(0.3)
    for caller in callers:
        caller.ws.close()
    delays: list[float] = []
    missed = 0
    for caller in callers:
        for cycle, sent in caller.silence_heard.items():
            stopped = caller.stopped_at.get(cycle)
            if stopped is None:
                missed += 1
            else:
                delays.append((stopped - sent) * 1000)
    lateness.sort()
    return {
        "sessions": sessions,
        "delays_ms": delays,
        "missed": missed,
        "load_lateness_p99_ms": lateness[int(0.99 * (len(lateness) - 1))] * 1000,
    }


# ---- the probe and the search (the parent process) ------------------------------------------


@dataclass
class Probe:
    sessions: int
    p99_ms: float
    turns: int
    missed: int
    load_lateness_p99_ms: float
    # The server's CPU seconds over the probe (handshakes included), per session and per
    # second of audio the session streamed: the noise-free side of the figure.
    server_cpu_per_session_s: float | None = None

    @property
    def passed(self) -> bool:
        return self.missed == 0 and self.turns > 0 and self.p99_ms < LIMIT_MS


def _p99(values: list[float]) -> float:
    if not values:
        return math.inf
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, math.ceil(0.99 * len(ordered)) - 1)]


def probe(sessions: int, cycles: int, server_kind: str = "serve", stagger: bool = True) -> Probe:
    """Serve on one core, drive ``sessions`` callers from the other, and measure.

    ``server_kind`` "bare" serves the baseline (no session: no ``speech_stopped``, so only its
    CPU figure means something)."""
    env = subprocess_env()
    server = subprocess.Popen(
        [python(), "-m", "bench.concurrency", server_kind],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
        env=env,
    )
    try:
        url = listening_url(server)
        if server_kind == "serve":
            _warm_up(url)
        cpu_before = _cpu_seconds(server.pid)
        command = [python(), "-m", "bench.concurrency", "load", url, str(sessions), str(cycles)]
        result = json.loads(run_load(command + ([] if stagger else ["--no-stagger"]), env, 300))
        cpu_after = _cpu_seconds(server.pid)
    finally:
        end(server)
    delays = result["delays_ms"]
    return Probe(
        sessions,
        _p99(delays),
        len(delays) + result["missed"],
        result["missed"],
        result["load_lateness_p99_ms"],
        None
        if cpu_before is None or cpu_after is None
        else (cpu_after - cpu_before) / (sessions * cycles * CYCLE_MS / 1000),  # per streamed s
    )


def _warm_up(url: str) -> None:
    """One short session, so that the server's lazy imports (the SDK's models, the VAD, the
    fixtures' fingerprints) are not counted as the probe's CPU."""
    from websockets.sync.client import connect

    frames, _ = _cycle_frames()
    with connect(url, additional_headers={"Authorization": "Bearer sk-bench"}) as ws:
        ws.recv(timeout=30)
        for frame in frames:  # a turn: server VAD commits it and the mock answers
            ws.send(frame)
        while '"response.created"' not in str(ws.recv(timeout=30)):
            pass


def search(
    *,
    start: int = 25,
    budget_s: float = 150.0,
    cycles: int = 2,
    max_probes: int = 12,
    stagger: bool = True,
) -> tuple[Probe | None, Probe | None, list[Probe]]:
    """Doubling then bisection: (largest passing probe, smallest failing probe, all probes)."""
    deadline = time.monotonic() + budget_s
    probes: list[Probe] = []
    best: Probe | None = None
    worst: Probe | None = None
    n = start
    while len(probes) < max_probes and time.monotonic() < deadline:
        result = probe(n, cycles, stagger=stagger)
        if not result.passed and time.monotonic() < deadline:
            again = probe(n, cycles, stagger=stagger)
            result = again if again.p99_ms < result.p99_ms else result
        probes.append(result)
        if result.passed:
            best = result if best is None or n > best.sessions else best
        else:
            worst = result if worst is None or n < worst.sessions else worst
        if worst is None:
            n *= 2
            continue
        low = best.sessions if best is not None else 0
        if worst.sessions - low <= max(2, low // 10):
            break  # within 10%
        n = (low + worst.sessions) // 2
    return best, worst, probes


def run(
    budget_s: float = 150.0,
    cycles: int = 2,
    start: int = 25,
    max_probes: int = 12,
    stagger: bool = True,
) -> list[Row]:
    best, worst, probes = search(
        start=start, budget_s=budget_s, cycles=cycles, max_probes=max_probes, stagger=stagger
    )
    tried = ", ".join(f"{p.sessions}: {p.p99_ms:.0f} ms" for p in probes)
    largest = best.sessions if best is not None else 0
    bound = f" (over at {worst.sessions})" if worst is not None else " (none over)"
    loaded = best or probes[0]
    bare = probe(loaded.sessions, cycles, "bare", stagger)
    rows = [
        (
            "concurrency: sessions streaming 24 kHz audio, server VAD, one core",
            f"{largest} sessions at p99 < {LIMIT_MS:g} ms{bound}",
            f"probes (sessions: p99 delay): {tried}",
            f"{largest} sessions (target >= 200)",
        )
    ]
    if loaded.server_cpu_per_session_s and bare.server_cpu_per_session_s:
        mock_cpu, bare_cpu = loaded.server_cpu_per_session_s, bare.server_cpu_per_session_s
        rows.append(
            (
                f"concurrency: server CPU per streaming session ({loaded.sessions} sessions)",
                f"{mock_cpu * 100:.2f}% of a core per session streaming (turns, answers and "
                "handshakes included)",
                f"{bare_cpu * 100:.2f}% bare websockets server reading the same frames",
                f"{mock_cpu / bare_cpu:.2f}x the bare server's CPU",
            )
        )
    return rows


def _serve() -> None:
    _pin(SERVER_CORE)
    # The CLI in this very process (its pid is the one measured; the core pin is inherited).
    command = [sys.executable, "-m", "harness.cli", "serve", "--port", "0", "--seed", "1"]
    os.execv(sys.executable, command)


async def _serve_bare() -> None:
    """The baseline server: websockets with the mock's settings, reading and dropping frames."""
    _pin(SERVER_CORE)
    from websockets.asyncio.server import ServerConnection, serve

    from mock_server.server import MAX_FRAME_BYTES

    created = json.dumps(
        {
            "type": "session.created",
            "session": {"audio": {"input": {"turn_detection": {"silence_duration_ms": 500}}}},
        }
    )

    async def handler(ws: ServerConnection) -> None:
        await ws.send(created)
        async for _ in ws:
            pass

    async with serve(
        handler, "127.0.0.1", 0, compression=None, max_size=MAX_FRAME_BYTES, ping_interval=None
    ) as server:
        port = next(iter(server.sockets)).getsockname()[1]
        print(f"bare websockets server listening on ws://127.0.0.1:{port}/v1/realtime", flush=True)
        await asyncio.Future()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    commands = parser.add_subparsers(dest="command", required=True)
    commands.add_parser("serve", help="the mock on one core (a child of the benchmark)")
    commands.add_parser("bare", help="the baseline server on one core (a child)")
    load = commands.add_parser("load", help="the load generator (a child of the benchmark)")
    load.add_argument("url")
    load.add_argument("sessions", type=int)
    load.add_argument("cycles", type=int)
    load.add_argument("--no-stagger", action="store_true", help="every session starts at once")
    args = parser.parse_args()
    if args.command == "serve":
        _serve()  # execs the CLI: never returns
    if args.command == "bare":
        asyncio.run(_serve_bare())
    _pin(LOAD_CORE)
    result = asyncio.run(_load(args.url, args.sessions, args.cycles, not args.no_stagger))
    print(json.dumps(result))


if __name__ == "__main__":
    if len(sys.argv) > 1:
        main()
    else:
        for row in run():
            print(" | ".join(row))
