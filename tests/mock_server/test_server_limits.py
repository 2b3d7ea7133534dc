"""The server's limits and clean-up: oversized frames, the session cap, slow readers, idle
connections, and what a vanished client leaves behind (nothing)."""

from __future__ import annotations

import asyncio
import json
import os
import socket
from collections.abc import Callable

import pytest
from websockets.asyncio.client import connect
from websockets.asyncio.server import ServerConnection
from websockets.exceptions import ConnectionClosed, InvalidStatus

from mock_server.responder import MessageOutput, Responder, ResponsePlan, ResponseRequest
from mock_server.server import MAX_FRAME_BYTES, WRITE_LIMIT, MockServer, Mount
from tests.helpers import KEY, WAIT, recv, recv_until, serving, until

ITEM = {
    "type": "conversation.item.create",
    "item": {"type": "message", "role": "user", "content": [{"type": "input_text", "text": "Hi"}]},
}


class LongReply:
    """A model that answers every turn with ``seconds`` of (silent) speech."""

    def __init__(self, seconds: float) -> None:
        self.audio = bytes(int(seconds * 24000) * 2)

    def respond(self, request: ResponseRequest) -> ResponsePlan:
        return ResponsePlan([MessageOutput("A long answer.", audio=self.audio)])


def long_reply(seconds: float) -> Callable[[], Responder]:
    return lambda: LongReply(seconds)


def server_side(server: MockServer) -> list[ServerConnection]:
    return [c for s in server._servers for c in s.connections]


# ---- limits ------------------------------------------------------------------------------------


async def test_a_frame_one_byte_over_the_limit_closes_with_1009_and_others_go_on() -> None:
    async with serving(Mount(pace=0.0)) as server:
        bystander = await connect(server.ws_url, additional_headers=KEY)
        await recv(bystander)
        ws = await connect(server.ws_url, additional_headers=KEY, max_size=None)
        await recv(ws)
        with pytest.raises(ConnectionClosed) as closed:
            await ws.send("x" * (MAX_FRAME_BYTES + 1))
            await recv(ws)
        assert closed.value.rcvd is not None
        assert (closed.value.rcvd.code, closed.value.rcvd.reason) == (
            1009,
            f"frame with {MAX_FRAME_BYTES + 1} bytes exceeds limit of {MAX_FRAME_BYTES} bytes",
        )
        await bystander.send(json.dumps(ITEM))
        assert (await recv(bystander))["type"] == "conversation.item.added"
        await bystander.close()


async def test_the_session_cap_refuses_with_503_and_says_why() -> None:
    server = MockServer(port=0, max_sessions=2, default_mount=Mount(pace=0.0))
    async with (
        server,
        connect(server.ws_url, additional_headers=KEY) as a,
        connect(server.ws_url, additional_headers=KEY) as b,
    ):
        await recv(a), await recv(b)
        with pytest.raises(InvalidStatus) as refused:
            async with connect(server.ws_url, additional_headers=KEY, open_timeout=WAIT):
                pass
        response = refused.value.response
        assert response.status_code == 503
        assert json.loads(response.body) == {
            "error": {
                "message": "realtime-mock is serving its maximum of 2 concurrent sessions "
                "(--max-sessions); retry when one has ended.",
                "type": "server_error",
                "param": None,
                "code": "too_many_sessions",
            }
        }
        # The sessions in service are not disturbed.
        await a.send(json.dumps(ITEM))
        assert (await recv(a))["type"] == "conversation.item.added"


async def test_a_client_that_never_reads_holds_the_server_at_the_write_limit() -> None:
    # 20 s of reply audio (1.3 MB of events) to a client that reads nothing. The kernel's
    # socket buffers are kept small (64 KB), so the reply cannot hide in them: the server must
    # stop at its own write limit, not queue the rest of the reply for the socket.
    mount = Mount(pace=0.0, seed=1, responder_factory=long_reply(20))
    async with serving(mount) as server:
        ws = await connect(
            server.ws_url, additional_headers=KEY, max_queue=1, max_size=None, ping_interval=None
        )
        await recv(ws)
        ws.transport.get_extra_info("socket").setsockopt(
            socket.SOL_SOCKET, socket.SO_RCVBUF, 64 * 1024
        )
        (conn,) = server_side(server)
        conn.transport.get_extra_info("socket").setsockopt(
            socket.SOL_SOCKET, socket.SO_SNDBUF, 64 * 1024
        )
        await ws.send(json.dumps(ITEM))
        await ws.send(json.dumps({"type": "response.create"}))
        await until(lambda: conn.paused, "the server pauses writing")
        largest_event = 7 * 1024  # a 100 ms audio delta: 6.4 KB of base64 plus its JSON
        buffered = conn.transport.get_write_buffer_size()
        assert 0 < buffered <= WRITE_LIMIT + largest_event
        # The client reads again: everything arrives, in order, and the session goes on.
        done = await recv_until(ws, "response.done")
        assert done["response"]["status"] == "completed"
        await ws.send(json.dumps(ITEM))
        assert (await recv_until(ws, "conversation.item.done"))["item"]["role"] == "user"
        await ws.close()


async def test_an_idle_connection_is_closed_per_the_scenario() -> None:
    # 30 s of idleness in 10 ms of real time.
    mount = Mount(pace=0.0, close_idle_after_s=30, time_scale=3000)
    async with serving(mount) as server:
        async with connect(server.ws_url, additional_headers=KEY) as ws:
            await recv(ws)
            with pytest.raises(ConnectionClosed) as closed:
                await recv(ws)
        assert closed.value.rcvd is not None
        assert (closed.value.rcvd.code, closed.value.rcvd.reason) == (
            1001,
            "realtime-mock: no client event for 30s (close_idle_after)",
        )
        assert server.connections[-1].transcript.closed == (
            1001,
            "realtime-mock: no client event for 30s (close_idle_after)",
        )


async def test_idle_connections_stay_open_by_default() -> None:
    # The live service keeps an idle session until its maximum duration.
    mount = Mount(pace=0.0, max_duration_s=3600, time_scale=3600 * 20)
    server = MockServer(port=0, default_mount=mount)
    async with server, connect(server.ws_url, additional_headers=KEY) as ws:
        await recv(ws)
        error = await recv(ws)  # ~50 ms later: the hour is over, not an idle close
        assert error["error"]["code"] == "session_expired"


# ---- clean up ------------------------------------------------------------------------------


def open_fds() -> int:
    return len(os.listdir("/proc/self/fd"))


@pytest.mark.skipif(not os.path.isdir("/proc/self/fd"), reason="counts fds through /proc")
@pytest.mark.parametrize("how", ["abort", "close"])
async def test_a_client_gone_mid_response_leaves_no_task_or_fd(how: str) -> None:
    mount = Mount(pace=1.0, seed=1, responder_factory=long_reply(30))
    async with serving(mount) as server:
        tasks, fds = len(asyncio.all_tasks()), open_fds()
        for _ in range(5):
            ws = await connect(server.ws_url, additional_headers=KEY)
            await recv(ws)
            await ws.send(json.dumps(ITEM))
            await ws.send(json.dumps({"type": "response.create"}))
            await recv_until(ws, "response.output_audio.delta")  # mid-stream, in real time
            if how == "abort":
                ws.transport.abort()  # gone without a close frame
            else:
                await ws.close()
            await asyncio.wait_for(ws.wait_closed(), WAIT)
        await server.wait_for_sessions(at_most=0)
        await until(lambda: len(asyncio.all_tasks()) == tasks, "the connections' tasks end")
        await until(lambda: open_fds() == fds, "the sockets are closed")
        assert all(
            c.session is not None and c.session.responses.runs == [] for c in server.connections
        )
        assert [c.transcript.closed for c in server.connections] == [
            (1006, "connection lost") if how == "abort" else (1000, "")
        ] * 5


async def test_a_long_running_server_forgets_ended_connections() -> None:
    # `serve` keeps none (keep_ended=0): memory does not grow with every session ever served.
    async with serving(Mount(pace=0.0), keep_ended=1) as server:
        for _ in range(3):
            async with connect(server.ws_url, additional_headers=KEY) as ws:
                await recv(ws)
            await server.wait_for_sessions(at_most=0)
        assert [c.number for c in server.connections] == [3]
        async with connect(server.ws_url, additional_headers=KEY) as ws:
            await recv(ws)
            assert [c.number for c in server.connections] == [3, 4]
