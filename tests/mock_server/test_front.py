"""The HTTP front: plain HTTP of any method and WebSocket upgrades on one port, ws and wss."""

from __future__ import annotations

import asyncio
import json
import ssl
from collections.abc import AsyncIterator

import httpx2 as httpx
import pytest
from websockets.http11 import Response

from mock_server.protocol.http import HttpRequest, json_response
from mock_server.server import MockServer
from mock_server.server.front import HEAD_TIMEOUT, MAX_BODY_BYTES, MAX_HEAD_BYTES
from tests.helpers import WAIT, connected, recv_until, send, serving
from tests.helpers import server as server


async def exchange(port: int, data: bytes, *, until_close: bool = True) -> bytes:
    """Send ``data`` as is; the bytes answered until the server closes (or one read)."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        writer.write(data)
        await writer.drain()
        if until_close:
            return await asyncio.wait_for(reader.read(), WAIT)
        return await asyncio.wait_for(reader.read(65536), WAIT)
    finally:
        writer.close()


def status_of(answer: bytes) -> int:
    return int(answer.split(b" ", 2)[1])


def body_of(answer: bytes) -> dict[str, object]:
    body: dict[str, object] = json.loads(answer.split(b"\r\n\r\n", 1)[1])
    return body


@pytest.fixture
async def echo(server: MockServer) -> AsyncIterator[MockServer]:
    """The server with a route that echoes what it read."""

    async def route(request: HttpRequest) -> Response:
        return json_response(
            200,
            {
                "method": request.method,
                "target": request.target,
                "body": request.body.decode(),
                "peer": request.peer,
                "secure": request.secure,
                "x": request.headers.get("X-Test"),
            },
        )

    server.http_routes.add("/_echo/", route)
    yield server


@pytest.mark.parametrize("method", ["GET", "POST", "PUT", "PATCH", "DELETE"])
async def test_any_method_reaches_a_route_with_its_body(echo: MockServer, method: str) -> None:
    async with httpx.AsyncClient(timeout=WAIT) as client:
        reply = await client.request(
            method,
            echo.url_for(scheme="http", path="/_echo/x?a=1"),
            content=b'{"k": 1}',
            headers={"X-Test": "yes"},
        )
    assert reply.status_code == 200
    assert reply.json() == {
        "method": method,
        "target": "/_echo/x?a=1",
        "body": '{"k": 1}',
        "peer": "127.0.0.1",
        "secure": False,
        "x": "yes",
    }
    assert reply.headers["server"] == "realtime-mock"


async def test_a_chunked_body_is_read_whole(echo: MockServer) -> None:
    async def parts() -> AsyncIterator[bytes]:
        for part in (b"one ", b"two"):
            yield part

    async with httpx.AsyncClient(timeout=WAIT) as client:
        reply = await client.post(echo.url_for(scheme="http", path="/_echo/"), content=parts())
    assert reply.json()["body"] == "one two"


async def test_a_kept_alive_connection_answers_requests_in_turn(echo: MockServer) -> None:
    # Two requests sent at once (pipelined), then a third with Connection: close.
    request = "POST /_echo/{n} HTTP/1.1\r\nHost: x\r\nContent-Length: 1\r\n{extra}\r\n{n}"
    data = "".join(request.format(n=n, extra="") for n in (1, 2))
    data += request.format(n=3, extra="Connection: close\r\n")
    answer = await exchange(echo.port, data.encode())
    assert answer.count(b"HTTP/1.1 200 OK") == 3
    assert [b'"target": "/_echo/%d"' % n in answer for n in (1, 2, 3)] == [True] * 3
    assert answer.index(b"/_echo/1") < answer.index(b"/_echo/2") < answer.index(b"/_echo/3")


async def test_health_check_and_the_426_of_a_plain_get_on_the_realtime_path(
    server: MockServer,
) -> None:
    async with httpx.AsyncClient(timeout=WAIT) as client:
        health = await client.get(server.url_for(scheme="http", path="/healthz"))
        plain = await client.get(server.ws_url.replace("ws://", "http://"))
    assert health.status_code == 200 and health.json()["status"] == "ok"
    assert plain.status_code == 426
    assert plain.json()["error"]["code"] == "upgrade_required"
    assert "connect with a WebSocket client" in plain.json()["error"]["message"]


async def test_unknown_paths_get_404_and_wrong_methods_405(server: MockServer) -> None:
    async with httpx.AsyncClient(timeout=WAIT) as client:
        unknown = await client.post(server.url_for(scheme="http", path="/v1/chat/completions"))
        realtime = await client.post(server.ws_url.replace("ws://", "http://"))
        health = await client.delete(server.url_for(scheme="http", path="/healthz"))
        unmounted = await client.get(server.url_for("/nowhere"))
    assert unknown.status_code == 404
    assert unknown.json() == {
        "error": {
            "message": "Invalid URL (POST /v1/chat/completions)",
            "type": "invalid_request_error",
            "param": None,
            "code": None,
        }
    }
    assert realtime.status_code == 405 and realtime.headers["allow"] == "GET"
    assert health.status_code == 405
    assert unmounted.status_code == 404


async def test_a_body_over_the_bound_is_413_before_it_is_read(echo: MockServer) -> None:
    head = f"POST /_echo/ HTTP/1.1\r\nHost: x\r\nContent-Length: {MAX_BODY_BYTES + 1}\r\n\r\n"
    answer = await exchange(echo.port, head.encode())
    assert status_of(answer) == 413
    assert "larger than the mock reads" in str(body_of(answer))


async def test_a_chunked_body_over_the_bound_is_413(echo: MockServer) -> None:
    chunk = b"x" * 65536
    piece = b"%x\r\n%s\r\n" % (len(chunk), chunk)
    head = b"POST /_echo/ HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n"
    count = MAX_BODY_BYTES // len(chunk) + 2
    answer = await exchange(echo.port, head + piece * count)
    assert status_of(answer) == 413


async def test_a_head_over_the_bound_is_431(server: MockServer) -> None:
    head = b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-Big: " + b"a" * (MAX_HEAD_BYTES + 10)
    answer = await exchange(server.port, head)
    assert status_of(answer) == 431


async def test_a_malformed_request_is_400_and_the_server_goes_on(
    server: MockServer,
) -> None:
    answer = await exchange(server.port, b"NOT HTTP AT ALL\r\n\r\n")
    assert status_of(answer) == 400 and b"Malformed HTTP request" in answer
    async with connected(server.ws_url) as ws:
        await send(ws, {"type": "session.update", "session": {"type": "realtime"}})
        await recv_until(ws, "session.updated")


async def test_a_route_that_raises_is_a_500_and_the_connection_goes_on(
    server: MockServer,
) -> None:
    async def broken(request: HttpRequest) -> Response:
        raise RuntimeError("boom")

    server.http_routes.add("/_broken", broken)
    async with httpx.AsyncClient(timeout=WAIT) as client:
        first = await client.get(server.url_for(scheme="http", path="/_broken"))
        second = await client.get(server.url_for(scheme="http", path="/healthz"))
    assert first.status_code == 500 and first.json()["error"]["type"] == "server_error"
    assert second.status_code == 200


async def test_a_silent_connection_is_closed_after_the_head_timeout(
    server: MockServer,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr("mock_server.server.front.HEAD_TIMEOUT", 0.05)
    assert HEAD_TIMEOUT > 0.05
    reader, writer = await asyncio.open_connection("127.0.0.1", server.port)
    try:
        writer.write(b"GET /healthz HTTP/1.1\r\n")  # and never the rest
        assert await asyncio.wait_for(reader.read(), WAIT) == b""
    finally:
        writer.close()


async def test_upgrades_and_plain_requests_share_the_port_over_tls() -> None:
    async with serving(tls=True) as server:
        assert server.ca_path is not None and server.wss_url is not None
        context = ssl.create_default_context(cafile=str(server.ca_path))
        async with httpx.AsyncClient(verify=context, timeout=WAIT) as client:
            health = await client.get(server.url_for(scheme="https", path="/healthz"))
        async with connected(server.wss_url, ssl=context) as ws:
            await send(ws, {"type": "session.update", "session": {"type": "realtime"}})
            await recv_until(ws, "session.updated")
    assert health.status_code == 200


async def test_stop_closes_kept_alive_plain_connections(server: MockServer) -> None:
    reader, writer = await asyncio.open_connection("127.0.0.1", server.port)
    try:
        writer.write(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
        assert (await asyncio.wait_for(reader.readline(), WAIT)).startswith(b"HTTP/1.1 200")
        await asyncio.wait_for(server.stop(), WAIT)
        rest = await asyncio.wait_for(reader.read(), WAIT)
        assert rest.endswith(b"}\n")  # the rest of the answer, then the close
    finally:
        writer.close()


async def test_a_client_that_half_closes_after_its_request_still_gets_the_answer(
    server: MockServer,
) -> None:
    reader, writer = await asyncio.open_connection("127.0.0.1", server.port)
    try:
        writer.write(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
        writer.write_eof()
        answer = await asyncio.wait_for(reader.read(), WAIT)  # then the server closes
    finally:
        writer.close()
    # The whole answer (whether it was written before or after the EOF came), then the close.
    assert answer.startswith(b"HTTP/1.1 200") and answer.endswith(b"]\n}\n")


async def test_a_body_that_never_ends_is_closed_after_the_request_timeout(
    echo: MockServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("mock_server.server.front.HEAD_TIMEOUT", 0.05)
    reader, writer = await asyncio.open_connection("127.0.0.1", echo.port)
    try:
        writer.write(b"POST /_echo/ HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\nabc")
        assert await asyncio.wait_for(reader.read(), WAIT) == b""
    finally:
        writer.close()


async def test_a_kept_alive_connection_may_then_upgrade(server: MockServer) -> None:
    reader, writer = await asyncio.open_connection("127.0.0.1", server.port)
    try:
        writer.write(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
        head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), WAIT)
        length = int(head.split(b"Content-Length: ")[1].split(b"\r\n")[0])
        await asyncio.wait_for(reader.readexactly(length), WAIT)
        writer.write(
            b"GET /v1/realtime?model=gpt-realtime HTTP/1.1\r\nHost: x\r\n"
            b"Authorization: Bearer sk-test\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
            b"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n"
        )
        switched = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), WAIT)
        assert switched.startswith(b"HTTP/1.1 101")
        first = await asyncio.wait_for(reader.read(2), WAIT)  # a text frame: session.created
        assert first[0] == 0x81
    finally:
        writer.close()


MALFORMED = [
    b"GET /healthz HTTP/1.1\r\n\r\n",  # HTTP/1.1 without Host
    b"POST /_echo/ HTTP/1.1\r\nHost: x\r\nContent-Length: nope\r\n\r\n",
    b"POST /_echo/ HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\nContent-Length: 4\r\n\r\nabcd",
    b"POST /_echo/ HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n",
    b"POST /_echo/ HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: gzip\r\n\r\n",
    b"GET /healthz HTTP/1.1\r\nHost: x\r\nno colon here\r\n\r\n",
    b"G\x00T /healthz HTTP/1.1\r\nHost: x\r\n\r\n",
    b"GET /healthz HTTP/9.9\r\nHost: x\r\n\r\n",
    b"\xff\xfe\xfd\r\n\r\n",
    b"GET " + b"/a" * 40000 + b" HTTP/1.1\r\nHost: x\r\n\r\n",
]


@pytest.mark.parametrize("data", MALFORMED, ids=[str(i) for i in range(len(MALFORMED))])
async def test_malformed_requests_get_a_4xx_or_a_close_and_the_server_goes_on(
    echo: MockServer, data: bytes
) -> None:
    answer = await exchange(echo.port, data)
    if answer:
        assert 400 <= status_of(answer) <= 505, answer[:300]  # 501: an unknown coding
        assert b"Connection: close" in answer
    async with httpx.AsyncClient(timeout=WAIT) as client:
        health = await client.get(echo.url_for(scheme="http", path="/healthz"))
    assert health.status_code == 200


async def test_an_http_1_0_request_is_answered_then_closed(server: MockServer) -> None:
    answer = await exchange(server.port, b"GET /healthz HTTP/1.0\r\n\r\n")
    assert answer.startswith(b"HTTP/1.1 200") and b"Connection: close" in answer
