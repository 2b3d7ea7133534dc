"""Event overhead: small client events through the mock vs a bare websockets server.

Each round trip is one ``conversation.item.create`` answered by the mock: in the beta dialect
with ``conversation.item.created`` (one frame), in GA with ``conversation.item.added`` and
``.done`` (two frames). The baselines run in the same process, loop and run: a bare websockets
server that echoes each frame (for beta), and one that answers each frame with the two frames
the mock sent (for GA: the same socket work, no session). The figure that matters is the ratio
of the mock's throughput to its baseline's (target: at least 0.8, issue 15).
"""

from __future__ import annotations

import asyncio
import json
import time

from websockets.asyncio.client import ClientConnection, connect
from websockets.asyncio.server import ServerConnection, serve

from bench import Row
from mock_server.server import MockServer, Mount

QUICK = {"round_trips": 1000, "runs": 3}
TINY = {"round_trips": 20, "runs": 1}
ITEM = {
    "type": "conversation.item.create",
    "item": {"type": "message", "role": "user", "content": [{"type": "input_text", "text": "hi"}]},
}
FRAME = json.dumps(ITEM)


async def _round_trips(ws: ClientConnection, n: int, answers: int) -> tuple[float, float]:
    """(round trips/s, CPU seconds a round trip: this process's, client and server both)."""
    start, cpu = time.perf_counter(), time.process_time()
    for _ in range(n):
        await ws.send(FRAME)
        for _ in range(answers):
            await ws.recv()
    return n / (time.perf_counter() - start), (time.process_time() - cpu) / n


async def bare_rate(n: int, replies: list[str] | None = None) -> tuple[float, float]:
    """Round trips/s against a bare server: an echo, or ``replies`` sent for every frame."""

    async def answer(ws: ServerConnection) -> None:
        async for message in ws:
            for reply in replies or [str(message)]:
                await ws.send(reply)

    async with serve(answer, "127.0.0.1", 0, compression=None) as server:
        port = next(iter(server.sockets)).getsockname()[1]
        async with connect(f"ws://127.0.0.1:{port}", compression=None) as ws:
            return await _round_trips(ws, n, len(replies) if replies else 1)


async def mock_rate(n: int, dialect: str = "ga") -> tuple[tuple[float, float], list[str]]:
    """Round trips/s and CPU a round trip through the mock, and the frames it answered the
    first event with."""
    headers = {"Authorization": "Bearer sk-bench"}
    if dialect == "beta":
        headers["OpenAI-Beta"] = "realtime=v1"
    answers = 2 if dialect == "ga" else 1
    async with MockServer(port=0, default_mount=Mount(pace=0.0, seed=1)) as server:
        url = f"{server.ws_url}?model=gpt-realtime"
        async with connect(url, additional_headers=headers, compression=None) as ws:
            await ws.recv()  # session.created
            if dialect == "beta":
                await ws.recv()  # conversation.created
            await ws.send(FRAME)
            first = [str(await ws.recv()) for _ in range(answers)]
            return await _round_trips(ws, n, answers), first


def run(round_trips: int = 2000, runs: int = 5) -> list[Row]:
    """Rows: (benchmark, measured, baseline, ratio); each rate is the best of ``runs``."""
    rows = []
    for dialect, answered in (("ga", "item.added + item.done"), ("beta", "item.created")):
        # The first run warms up imports, the loop and the mock's lazy imports (the SDK's
        # models), and records what the mock answers, for the GA baseline to send.
        _, replies = asyncio.run(mock_rate(50, dialect))
        echo = dialect == "beta"  # one answer frame: the bare echo does the same socket work
        mock = base = 0.0
        mock_cpu = base_cpu = float("inf")
        for _ in range(max(1, runs)):  # interleaved, so that both see the same noise
            rate, cpu = asyncio.run(mock_rate(round_trips, dialect))[0]
            mock, mock_cpu = max(mock, rate), min(mock_cpu, cpu)
            rate, cpu = asyncio.run(bare_rate(round_trips, None if echo else replies))
            base, base_cpu = max(base, rate), min(base_cpu, cpu)
        baseline = "bare echo" if echo else f"bare server, same {len(replies)} frames"
        # CPU a round trip moves less than wall time on a shared machine (time spent waiting
        # for the core does not count): both are printed.
        rows.append(
            (
                f"event round trips ({dialect}: item.create -> {answered})",
                f"{mock:,.0f}/s mock; {mock_cpu * 1e6:.0f} us CPU a round trip",
                f"{base:,.0f}/s {baseline}; {base_cpu * 1e6:.0f} us CPU",
                f"{mock / base:.2f} by rate, {base_cpu / mock_cpu:.2f} by CPU (target >= 0.80)",
            )
        )
    return rows


if __name__ == "__main__":
    for row in run():
        print(" | ".join(row))
