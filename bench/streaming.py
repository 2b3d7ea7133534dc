"""Streaming: one session receiving a long audio response at ``pace: fast``.

The mock answers one ``response.create`` with a 60 s audio reply (the monologue fixture,
repeated), streamed as fast as possible: 100 ms ``response.output_audio.delta`` events with
the transcript deltas between them. The client reads until ``response.done``. The baseline,
in the same process and run, is a bare websockets server sending the very frames the mock
sent (same count, same sizes) to the same client: the socket work without the session.
Figures: events/s, and CPU seconds (process time, client included in both) per second of
audio; the ratio is the mock's events/s over the baseline's.
"""

from __future__ import annotations

import asyncio
import json
import time
from dataclasses import dataclass

from websockets.asyncio.client import connect
from websockets.asyncio.server import ServerConnection, serve

from bench import Row, monologue
from mock_server.responder import MessageOutput, ResponsePlan, ResponseRequest
from mock_server.server import MockServer, Mount

QUICK = {"seconds": 60, "runs": 2}
TINY = {"seconds": 1, "runs": 1}
TEXT = "Let me tell you about the history of Paris. " * 4


@dataclass
class Measure:
    events: int
    wall_s: float
    cpu_s: float

    @property
    def rate(self) -> float:
        return self.events / self.wall_s


class LongAnswer:
    """A responder whose every answer is ``seconds`` of the monologue fixture."""

    def __init__(self, seconds: float) -> None:
        self.pcm = monologue(seconds)

    def respond(self, request: ResponseRequest) -> ResponsePlan:
        return ResponsePlan([MessageOutput(TEXT, self.pcm)])


async def mock_stream(seconds: float) -> tuple[Measure, list[str]]:
    """The mock streaming the answer; also returns the frames it sent, for the baseline."""
    answer = LongAnswer(seconds)
    mount = Mount(pace=0.0, seed=1, responder_factory=lambda: answer)
    async with MockServer(port=0, default_mount=mount) as server:
        headers = {"Authorization": "Bearer sk-bench"}
        async with connect(server.ws_url, additional_headers=headers, compression=None) as ws:
            await ws.recv()  # session.created
            frames: list[str] = []
            cpu, start = time.process_time(), time.perf_counter()
            await ws.send(json.dumps({"type": "response.create"}))
            while True:
                frame = str(await ws.recv())
                frames.append(frame)
                if '"response.done"' in frame:
                    break
            wall, cpu = time.perf_counter() - start, time.process_time() - cpu
    return Measure(len(frames), wall, cpu), frames


async def bare_stream(frames: list[str]) -> Measure:
    """A bare websockets server sending ``frames`` when asked, to the same kind of client."""

    async def send_all(ws: ServerConnection) -> None:
        await ws.recv()
        for frame in frames:
            await ws.send(frame)

    async with serve(send_all, "127.0.0.1", 0, compression=None) as server:
        port = next(iter(server.sockets)).getsockname()[1]
        async with connect(f"ws://127.0.0.1:{port}", compression=None) as ws:
            count = 0
            cpu, start = time.process_time(), time.perf_counter()
            await ws.send(json.dumps({"type": "response.create"}))
            while True:
                frame = str(await ws.recv())
                count += 1
                if '"response.done"' in frame:
                    break
            wall, cpu = time.perf_counter() - start, time.process_time() - cpu
    return Measure(count, wall, cpu)


def run(seconds: float = 60, runs: int = 3) -> list[Row]:
    asyncio.run(mock_stream(1))  # warm up imports
    mocks = [asyncio.run(mock_stream(seconds)) for _ in range(max(1, runs))]
    mock = min((m for m, _ in mocks), key=lambda m: m.wall_s)
    frames = mocks[0][1]
    bases = [asyncio.run(bare_stream(frames)) for _ in range(max(1, runs))]
    base = min(bases, key=lambda m: m.wall_s)
    return [
        (
            f"streaming: {seconds:g} s audio reply at pace fast ({mock.events} events)",
            f"{mock.rate:,.0f} events/s; {mock.cpu_s / seconds * 1000:.1f} ms CPU per s of audio",
            f"{base.rate:,.0f} events/s; {base.cpu_s / seconds * 1000:.1f} ms CPU/s, bare server "
            "sending the same frames",
            f"{mock.rate / base.rate:.2f} of the baseline's events/s",
        )
    ]


if __name__ == "__main__":
    for row in run():
        print(" | ".join(row))
