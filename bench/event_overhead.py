"""Event overhead: small client events through the mock vs a bare websockets echo server.

Each round trip is one ``conversation.item.create`` answered by ``conversation.item.added``
(GA; the mock also sends ``.done``, which the client reads too). The baseline is a websockets
server that echoes every frame back, on the same loop and machine, in the same run; the figure
that matters is the ratio of the mock's throughput to the echo's (target: at least 0.6).
"""

from __future__ import annotations

import asyncio
import json
import time

from websockets.asyncio.client import connect
from websockets.asyncio.server import ServerConnection, serve

from mock_server.server import MockServer, Mount

ROUND_TRIPS = 2000
ITEM = {
    "type": "conversation.item.create",
    "item": {"type": "message", "role": "user", "content": [{"type": "input_text", "text": "hi"}]},
}


async def _echo(ws: ServerConnection) -> None:
    async for message in ws:
        await ws.send(message)


async def echo_rate(n: int = ROUND_TRIPS) -> float:
    frame = json.dumps(ITEM)
    async with serve(_echo, "127.0.0.1", 0, compression=None) as server:
        port = next(iter(server.sockets)).getsockname()[1]
        async with connect(f"ws://127.0.0.1:{port}", compression=None) as ws:
            start = time.perf_counter()
            for _ in range(n):
                await ws.send(frame)
                await ws.recv()
            return n / (time.perf_counter() - start)


async def mock_rate(n: int = ROUND_TRIPS) -> float:
    frame = json.dumps(ITEM)
    async with MockServer(port=0, default_mount=Mount(pace=0.0, seed=1)) as server:
        headers = {"Authorization": "Bearer sk-bench"}
        async with connect(server.ws_url, additional_headers=headers, compression=None) as ws:
            await ws.recv()  # session.created
            start = time.perf_counter()
            for _ in range(n):
                await ws.send(frame)
                await ws.recv()  # conversation.item.added
                await ws.recv()  # conversation.item.done
            return n / (time.perf_counter() - start)


def run() -> list[tuple[str, str, str, str]]:
    """Rows: (benchmark, measured, baseline, ratio)."""
    asyncio.run(echo_rate(200))  # warm up imports and the loop
    asyncio.run(mock_rate(200))  # and the mock's lazy imports (the SDK's models)
    echo = asyncio.run(echo_rate())
    mock = asyncio.run(mock_rate())
    return [
        (
            "event round trips/s (item.create)",
            f"{mock:,.0f}/s mock",
            f"{echo:,.0f}/s bare echo",
            f"{mock / echo:.2f} (target >= 0.60)",
        )
    ]


if __name__ == "__main__":
    for row in run():
        print(" | ".join(row))
