"""The HTTP front's candidates: the same echo behind each stack, measured in one run.

Each candidate serves one port that answers a WebSocket (an echo of every frame) and a plain
``POST`` (a small JSON answer). Measured against each: WebSocket round trips/s of the event
overhead's frame on one connection (what a session pays per event), connections/s (handshake,
one frame, close: what a test suite pays per test), and plain HTTP requests/s on one kept-alive
connection (the REST side and the control API). The client is the same for all (websockets,
and a raw socket for HTTP), on the same loop.

- ``websockets serve``: today's server, GETs only (the baseline: what the front must not slow);
- ``front``: :mod:`mock_server.server.front`, h11 for plain requests, upgrades handed to
  websockets' ``ServerConnection``;
- ``aiohttp`` and ``uvicorn + starlette`` (websockets' sans-I/O protocol, h11 for HTTP) when
  installed (they are not dependencies: ``pip install aiohttp uvicorn starlette``).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import time
from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager
from typing import Any

from websockets.asyncio.client import connect
from websockets.asyncio.server import ServerConnection, serve
from websockets.datastructures import Headers
from websockets.http11 import Response

from bench import Row
from bench.event_overhead import FRAME
from mock_server.protocol.http import HttpRequest, json_response
from mock_server.server.front import Front, WebSocketOptions, listen

QUICK = {"round_trips": 1000, "connections": 100, "requests": 500, "runs": 3}
TINY = {"round_trips": 10, "connections": 3, "requests": 5, "runs": 1}
BODY = json.dumps({"session": {"type": "realtime"}}).encode()
ANSWER = {"value": "ek_bench", "expires_at": 0}

Serving = Callable[[], AbstractAsyncContextManager[int]]  # yields the port


async def _echo(ws: ServerConnection) -> None:
    async for message in ws:
        await ws.send(message)


@contextlib.asynccontextmanager
async def websockets_serve() -> AsyncIterator[int]:
    async with serve(_echo, "127.0.0.1", 0, compression=None, ping_interval=None) as server:
        yield next(iter(server.sockets)).getsockname()[1]


@contextlib.asynccontextmanager
async def front() -> AsyncIterator[int]:
    async def process_request(connection: ServerConnection, request: Any) -> None:
        return None

    async def answer(request: HttpRequest) -> Response:
        return json_response(200, ANSWER)

    options = WebSocketOptions(
        process_request=process_request,
        select_subprotocol=lambda connection, offered: None,
        max_size=2**20,
        write_limit=2**15,
        max_queue=16,
        open_timeout=10,
        server_header="bench",
        logger=logging.getLogger("bench.front"),
    )
    server = await listen(Front(_echo, answer, options), "127.0.0.1", 0)
    try:
        yield server.sockets[0].getsockname()[1]
    finally:
        server.close()
        await server.wait_closed()


@contextlib.asynccontextmanager
async def aiohttp_app() -> AsyncIterator[int]:
    from aiohttp import WSMsgType, web

    async def ws_handler(request: web.Request) -> web.WebSocketResponse:
        ws = web.WebSocketResponse()
        await ws.prepare(request)
        async for message in ws:
            if message.type is WSMsgType.TEXT:
                await ws.send_str(message.data)
        return ws

    async def post(request: web.Request) -> web.Response:
        await request.read()
        return web.json_response(ANSWER)

    app = web.Application()
    app.router.add_get("/", ws_handler)
    app.router.add_post("/", post)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    try:
        assert site._server is not None
        yield site._server.sockets[0].getsockname()[1]  # type: ignore[attr-defined]
    finally:
        await runner.cleanup()


@contextlib.asynccontextmanager
async def uvicorn_starlette() -> AsyncIterator[int]:
    import uvicorn
    from starlette.applications import Starlette
    from starlette.requests import Request
    from starlette.responses import JSONResponse
    from starlette.routing import Route, WebSocketRoute
    from starlette.websockets import WebSocket

    async def ws_handler(ws: WebSocket) -> None:
        await ws.accept()
        with contextlib.suppress(Exception):
            while True:
                await ws.send_text(await ws.receive_text())

    async def post(request: Request) -> JSONResponse:
        await request.body()
        return JSONResponse(ANSWER)

    app = Starlette(routes=[Route("/", post, methods=["POST"]), WebSocketRoute("/", ws_handler)])
    config = uvicorn.Config(
        app,
        "127.0.0.1",
        0,
        ws="websockets-sansio",
        http="h11",
        log_level="warning",
        lifespan="off",
        ws_ping_interval=None,
    )
    server = uvicorn.Server(config)
    task = asyncio.ensure_future(server.serve())
    while not server.started:
        if task.done():
            task.result()
        await asyncio.sleep(0.01)
    try:
        yield server.servers[0].sockets[0].getsockname()[1]
    finally:
        server.should_exit = True
        await asyncio.wait_for(task, 10)


CANDIDATES: dict[str, Serving] = {
    "websockets serve": websockets_serve,
    "front": front,
    "aiohttp": aiohttp_app,
    "uvicorn + starlette": uvicorn_starlette,
}


async def ws_round_trips(port: int, n: int) -> float:
    async with connect(f"ws://127.0.0.1:{port}/", compression=None) as ws:
        await ws.send(FRAME)
        await ws.recv()
        start = time.perf_counter()
        for _ in range(n):
            await ws.send(FRAME)
            await ws.recv()
        return n / (time.perf_counter() - start)


async def connections(port: int, n: int) -> float:
    start = time.perf_counter()
    for _ in range(n):
        async with connect(f"ws://127.0.0.1:{port}/", compression=None) as ws:
            await ws.send(FRAME)
            await ws.recv()
    return n / (time.perf_counter() - start)


async def http_requests(port: int, n: int) -> float:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    request = (
        b"POST / HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
        b"Content-Length: %d\r\n\r\n%s" % (len(BODY), BODY)
    )
    try:
        start = time.perf_counter()
        for _ in range(n):
            writer.write(request)
            head = await reader.readuntil(b"\r\n\r\n")
            length = int(Headers(_headers(head)).get("Content-Length", "0"))
            await reader.readexactly(length)
        return n / (time.perf_counter() - start)
    finally:
        writer.close()


def _headers(head: bytes) -> list[tuple[str, str]]:
    lines = head.decode("latin-1").split("\r\n")[1:]
    return [(k.strip(), v.strip()) for k, _, v in (line.partition(":") for line in lines if line)]


async def measure(serving: Serving, round_trips: int, conns: int, requests: int) -> list[float]:
    async with serving() as port:
        rates = [await ws_round_trips(port, round_trips), await connections(port, conns)]
        # websockets' own server answers no POST: its HTTP figure is left out.
        rates.append(0.0 if serving is websockets_serve else await http_requests(port, requests))
        return rates


def available() -> dict[str, Serving]:
    found = {}
    for name, serving in CANDIDATES.items():
        module = {"aiohttp": "aiohttp", "uvicorn + starlette": "uvicorn"}.get(name)
        if module is not None:
            try:
                __import__(module)
                if module == "uvicorn":
                    __import__("starlette")
            except ImportError:
                continue
        found[name] = serving
    return found


def run(
    round_trips: int = 3000, connections: int = 300, requests: int = 2000, runs: int = 5
) -> list[Row]:
    """Rows: each candidate's three rates against websockets' own server (best of ``runs``,
    candidates interleaved within each run)."""
    candidates = available()
    best: dict[str, list[float]] = {name: [0.0, 0.0, 0.0] for name in candidates}
    for _ in range(max(1, runs)):
        for name, serving in candidates.items():
            rates = asyncio.run(measure(serving, round_trips, connections, requests))
            best[name] = [max(a, b) for a, b in zip(best[name], rates, strict=True)]
    base = best["websockets serve"]
    rows: list[Row] = []
    for name in candidates:
        if name == "websockets serve":
            continue
        ws, conn, http = best[name]
        rows.append(
            (
                f"http front: {name}",
                f"{ws:,.0f} ws rt/s, {conn:,.0f} conn/s, {http:,.0f} POST/s",
                f"websockets serve: {base[0]:,.0f} rt/s, {base[1]:,.0f} conn/s",
                f"ws {ws / base[0]:.2f}, conn {conn / base[1]:.2f} (target ws >= 0.95)",
            )
        )
    missing = sorted(set(CANDIDATES) - set(candidates))
    if missing:
        rows.append(("http front: " + ", ".join(missing), "not installed", "-", "-"))
    return rows


if __name__ == "__main__":
    for row in run():
        print(" | ".join(row))
