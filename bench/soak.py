"""Soak: many sessions of many turns against one server; memory must stay flat.

``SESSIONS`` sessions, ``CONCURRENCY`` at a time, each of ``TURNS`` turns in rotation: a text
turn (``conversation.item.create`` + ``response.create``), an audio turn (the question fixture
streamed, then silence, so that server VAD commits it and answers) and a function-call turn
(a forced tool, its output, the answer). The server is a :class:`MockServer` with the settings
``realtime-mock serve`` uses, on this process's loop. Reported: errors (any ``error`` event, any
turn that did not finish, any exception), Python heap (tracemalloc) and RSS after a warm-up
batch and at the end, and the asyncio tasks left once every session has ended. The figure that
matters is the heap growth per session after warm-up (it must stay near zero: nothing is kept
per ended session beyond the bounded history of ended connections).

    python -m bench.soak                           # modest: 150 sessions x 6 turns, ~30 s
    python -m bench.soak --sessions 2000 --turns 20 --concurrency 50
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import gc
import json
import resource
import sys
import time
import tracemalloc
from dataclasses import dataclass, field
from typing import Any

from websockets.asyncio.client import ClientConnection, connect

from bench import Row
from mock_server import audio, resources
from mock_server.server import MockServer, Mount

SESSIONS = 150
TURNS = 6
CONCURRENCY = 20
WAIT = 30.0
KEY = {"Authorization": "Bearer sk-soak"}
WEATHER = {
    "type": "function",
    "name": "get_weather",
    "description": "The weather in a city.",
    "parameters": {
        "type": "object",
        "properties": {"city": {"type": "string"}},
        "required": ["city"],
    },
}


@dataclass
class Tally:
    sessions: int = 0
    turns: int = 0
    errors: list[str] = field(default_factory=list)


def _speech_chunks() -> list[str]:
    """The question fixture then a second of silence, as 100 ms base64 appends."""
    pcm = audio.samples_to_pcm16(audio.load_wav(resources.AUDIO / "question.wav"))
    pcm += bytes(48 * 1000)
    return [base64.b64encode(c).decode() for c in audio.chunk(pcm, 100)]


async def _until(ws: ClientConnection, type_: str, tally: Tally) -> dict[str, Any]:
    while True:
        event: dict[str, Any] = json.loads(await asyncio.wait_for(ws.recv(), WAIT))
        if event["type"] == "error":
            tally.errors.append(f"error event: {event['error']}")
        if event["type"] == type_:
            return event


async def _text_turn(ws: ClientConnection, n: int, tally: Tally) -> None:
    item = {
        "type": "message",
        "role": "user",
        "content": [{"type": "input_text", "text": f"Turn {n}: tell me something."}],
    }
    await ws.send(json.dumps({"type": "conversation.item.create", "item": item}))
    await ws.send(json.dumps({"type": "response.create"}))
    done = await _until(ws, "response.done", tally)
    if done["response"]["status"] != "completed":
        tally.errors.append(f"text turn: response {done['response']['status']}")


async def _audio_turn(ws: ClientConnection, chunks: list[str], tally: Tally) -> None:
    for chunk in chunks:
        await ws.send(json.dumps({"type": "input_audio_buffer.append", "audio": chunk}))
    done = await _until(ws, "response.done", tally)
    if done["response"]["status"] != "completed":
        tally.errors.append(f"audio turn: response {done['response']['status']}")


async def _function_turn(ws: ClientConnection, tally: Tally) -> None:
    forced = {"tools": [WEATHER], "tool_choice": {"type": "function", "name": "get_weather"}}
    await ws.send(json.dumps({"type": "response.create", "response": forced}))
    done = await _until(ws, "response.done", tally)
    calls = [o for o in done["response"]["output"] if o["type"] == "function_call"]
    if not calls:
        tally.errors.append("function turn: no function call")
        return
    output = {"type": "function_call_output", "call_id": calls[0]["call_id"], "output": "sunny"}
    await ws.send(json.dumps({"type": "conversation.item.create", "item": output}))
    await ws.send(json.dumps({"type": "response.create"}))
    await _until(ws, "response.done", tally)


async def _session(url: str, turns: int, chunks: list[str], tally: Tally) -> None:
    try:
        async with connect(url, additional_headers=KEY, max_size=None) as ws:
            await _until(ws, "session.created", tally)
            for n in range(turns):
                kind = n % 3
                if kind == 0:
                    await _text_turn(ws, n, tally)
                elif kind == 1:
                    await _audio_turn(ws, chunks, tally)
                else:
                    await _function_turn(ws, tally)
                tally.turns += 1
        tally.sessions += 1
    except Exception as exc:  # a soak reports failures, it does not stop at the first
        tally.errors.append(f"session failed: {type(exc).__name__}: {exc}")


async def _batch(url: str, count: int, turns: int, concurrency: int, tally: Tally) -> None:
    chunks = _speech_chunks()
    gate = asyncio.Semaphore(concurrency)

    async def one() -> None:
        async with gate:
            await _session(url, turns, chunks, tally)

    await asyncio.gather(*(one() for _ in range(count)))


def _rss_mib() -> float:
    # ru_maxrss is the peak; the current RSS is in /proc where there is one.
    try:
        with open("/proc/self/statm") as statm:
            pages = int(statm.read().split()[1])
        return pages * resource.getpagesize() / 2**20
    except OSError:
        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


@dataclass
class Figures:
    sessions: int
    turns: int
    errors: list[str]
    seconds: float
    warm_heap_mib: float
    end_heap_mib: float
    warm_rss_mib: float
    end_rss_mib: float
    tasks_left: int
    warmup_sessions: int

    @property
    def heap_growth_kib_per_session(self) -> float:
        measured = max(1, self.sessions - self.warmup_sessions)
        return (self.end_heap_mib - self.warm_heap_mib) * 1024 / measured


async def soak(
    sessions: int = SESSIONS, turns: int = TURNS, concurrency: int = CONCURRENCY
) -> Figures:
    """Run the soak; the figures after a warm-up batch and at the end."""
    tally = Tally()
    warmup = min(sessions, max(concurrency, sessions // 10))
    mount = Mount(pace=0.0, seed="soak")
    async with MockServer(port=0, default_mount=mount, keep_ended=0) as server:  # as serve
        url = server.ws_url + "?model=gpt-realtime"
        start = time.perf_counter()
        await _batch(url, warmup, turns, concurrency, tally)
        await server.wait_for_sessions(at_most=0)
        gc.collect()
        warm_heap = tracemalloc.get_traced_memory()[0] / 2**20
        warm_rss = _rss_mib()
        await _batch(url, sessions - warmup, turns, concurrency, tally)
        await server.wait_for_sessions(at_most=0)
        seconds = time.perf_counter() - start
        gc.collect()
        end_heap = tracemalloc.get_traced_memory()[0] / 2**20
        end_rss = _rss_mib()
        # Let the connections' own tasks (closing handshakes) finish, then count what is left.
        for _ in range(100):
            if len(asyncio.all_tasks()) <= 1:
                break
            await asyncio.sleep(0.01)
        tasks_left = len(asyncio.all_tasks()) - 1  # this coroutine's own task
    return Figures(
        tally.sessions,
        tally.turns,
        tally.errors,
        seconds,
        warm_heap,
        end_heap,
        warm_rss,
        end_rss,
        tasks_left,
        warmup,
    )


QUICK = {"sessions": 60, "turns": 4}
TINY = {"sessions": 4, "turns": 2, "concurrency": 2}


def measure(sessions: int, turns: int, concurrency: int) -> Figures:
    tracemalloc.start()
    try:
        return asyncio.run(soak(sessions, turns, concurrency))
    finally:
        tracemalloc.stop()


def report(figures: Figures) -> str:
    lines = [
        f"soak: {figures.sessions} sessions x {figures.turns // max(1, figures.sessions)} turns "
        f"({figures.turns} turns: text, audio with server VAD, function calls) "
        f"in {figures.seconds:.1f} s",
        f"errors: {len(figures.errors)}",
        *(f"  {e}" for e in figures.errors[:20]),
        f"python heap (tracemalloc): {figures.warm_heap_mib:.1f} MiB after "
        f"{figures.warmup_sessions} warm-up sessions -> {figures.end_heap_mib:.1f} MiB at the end "
        f"({figures.heap_growth_kib_per_session:+.1f} KiB per later session)",
        f"RSS: {figures.warm_rss_mib:.1f} MiB -> {figures.end_rss_mib:.1f} MiB",
        f"asyncio tasks left after the last session: {figures.tasks_left}",
    ]
    return "\n".join(lines)


def run(sessions: int = SESSIONS, turns: int = TURNS, concurrency: int = CONCURRENCY) -> list[Row]:
    """Rows: (benchmark, measured, baseline, ratio)."""
    figures = measure(sessions, turns, concurrency)
    return [
        (
            f"soak: {figures.sessions} sessions x {turns} turns",
            f"{len(figures.errors)} errors, {figures.tasks_left} tasks left, "
            f"heap {figures.end_heap_mib:.1f} MiB",
            f"heap {figures.warm_heap_mib:.1f} MiB after {figures.warmup_sessions} sessions",
            f"{figures.end_heap_mib / max(figures.warm_heap_mib, 1e-9):.2f} "
            f"({figures.heap_growth_kib_per_session:+.1f} KiB/session; target ~0)",
        )
    ]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m bench.soak", description=__doc__.split("\n\n")[0] if __doc__ else None
    )
    parser.add_argument("--sessions", type=int, default=SESSIONS)
    parser.add_argument("--turns", type=int, default=TURNS)
    parser.add_argument("--concurrency", type=int, default=CONCURRENCY)
    args = parser.parse_args(argv)
    figures = measure(args.sessions, args.turns, args.concurrency)
    print(report(figures))
    return 1 if figures.errors or figures.tasks_left else 0


if __name__ == "__main__":
    sys.exit(main())
