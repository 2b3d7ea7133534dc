"""Pass-through latency: event round trips through the proxy vs straight to the same upstream.

The upstream is a realtime-mock (pace 0) on this machine; the client does one
``conversation.item.create`` and reads its two answers (``conversation.item.added``, ``.done``)
per round trip, first directly, then through a relaying mock (``Mount(upstream=...)``), in the
same run. The figure that matters is the added time per round trip (two hops more, and each
frame parsed into the transcript), and the ratio of the two round-trip times.
"""

from __future__ import annotations

import asyncio
import statistics
import time

from websockets.asyncio.client import connect

from bench import Row
from bench.event_overhead import FRAME  # the same conversation.item.create round trip
from mock_server.relay import Upstream
from mock_server.server import MockServer, Mount

ROUND_TRIPS = 1000


async def round_trip_us(url: str, n: int) -> float:
    """Median microseconds per round trip against ``url``."""
    frame = FRAME
    headers = {"Authorization": "Bearer sk-bench"}
    async with connect(f"{url}?model=gpt-realtime", additional_headers=headers) as ws:
        await ws.recv()  # session.created
        times = []
        for _ in range(n):
            start = time.perf_counter()
            await ws.send(frame)
            await ws.recv()  # conversation.item.added
            await ws.recv()  # conversation.item.done
            times.append(time.perf_counter() - start)
    return statistics.median(times) * 1e6


async def measure(n: int = ROUND_TRIPS) -> tuple[float, float]:
    """(direct, through the proxy) median round trip in microseconds, same upstream."""
    async with MockServer(port=0, default_mount=Mount(pace=0.0, seed=1)) as upstream:
        relay = Mount(upstream=Upstream(url=upstream.ws_url, api_key=None))
        async with MockServer(port=0, default_mount=relay) as proxy:
            await round_trip_us(upstream.ws_url, 100)  # warm up both paths
            await round_trip_us(proxy.ws_url, 100)
            direct = await round_trip_us(upstream.ws_url, n)
            relayed = await round_trip_us(proxy.ws_url, n)
    return direct, relayed


QUICK = {"round_trips": 300}
TINY = {"round_trips": 10}


def run(round_trips: int = ROUND_TRIPS) -> list[Row]:
    """Rows: (benchmark, measured, baseline, ratio)."""
    direct, relayed = asyncio.run(measure(round_trips))
    return [
        (
            "pass-through round trip (item.create)",
            f"{relayed:,.0f} us via proxy (+{relayed - direct:,.0f} us)",
            f"{direct:,.0f} us direct",
            f"{relayed / direct:.2f}x",
        )
    ]


if __name__ == "__main__":
    for row in run():
        print(" | ".join(row))
