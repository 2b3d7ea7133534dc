"""The default bound on expectations: no script waits forever for a client that will not send.

The bounds here are real seconds (the default is 10 s; the scenarios set ``timeout`` to keep the
tests short); ``time_scale`` must not shrink them.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from typing import Any

from websockets.asyncio.client import ClientConnection
from websockets.exceptions import ConnectionClosed

from mock_server.scenario.compile import DEFAULT_TIMEOUT
from mock_server.scenario.loader import load_scenario_text
from mock_server.scenario.runner import UNMET_CLOSE
from mock_server.scenario.served import ServedScenario
from mock_server.server import MockServer
from tests.helpers import MODEL_QUERY, WAIT, connected, serving

HEAD = "name: t\ndescription: a test scenario\n"


@asynccontextmanager
async def served(text: str) -> AsyncIterator[tuple[MockServer, ServedScenario]]:
    play = ServedScenario(load_scenario_text(HEAD + text, "t.yaml"))
    async with serving(play.mount()) as server:
        yield server, play


def client(server: MockServer) -> AbstractAsyncContextManager[ClientConnection]:
    return connected(server.ws_url + MODEL_QUERY, opened=False)


async def events_until_closed(ws: ClientConnection) -> list[dict[str, Any]]:
    """Every event until the mock closes the connection (bounded by WAIT)."""
    seen: list[dict[str, Any]] = []
    try:
        while True:
            seen.append(json.loads(await asyncio.wait_for(ws.recv(), WAIT)))
    except ConnectionClosed:
        return seen


def test_the_default_is_ten_seconds() -> None:
    assert DEFAULT_TIMEOUT == 10.0


async def test_an_expect_without_within_fails_after_the_timeout_and_closes() -> None:
    text = """
timeout: 1.5s
steps:
  - expect: {type: conversation.item.create, within: 30s}
  - expect: response.create
  - respond: {text: never}
"""
    async with served(text) as (server, play), client(server) as ws:
        await ws.send(
            json.dumps(
                {
                    "type": "conversation.item.create",
                    "item": {
                        "type": "message",
                        "role": "user",
                        "content": [{"type": "input_text", "text": "hi"}],
                    },
                }
            )
        )
        seen = await events_until_closed(ws)
        assert ws.close_code == UNMET_CLOSE
        assert "expect response.create" in (ws.close_reason or "")
    errors = [e for e in seen if e["type"] == "error"]
    assert errors and errors[-1]["error"]["code"] == "realtime_mock_expectation_unmet"
    findings = "\n".join(play.verdict().findings)
    assert "expect response.create: not within 1.5s (default timeout)" in findings
    assert "came instead: conversation.item.create" not in findings  # it was expected


async def test_the_timeout_is_real_seconds_under_a_time_scale() -> None:
    # 1000 virtual seconds a second: a bound in scenario time would fail in 0.3 ms.
    text = """
time_scale: 1000
timeout: 0.5s
steps:
  - expect: response.create
"""
    async with served(text) as (server, play), client(server) as ws:
        await asyncio.wait_for(ws.recv(), WAIT)  # session.created
        await ws.send(json.dumps({"type": "response.create"}))
        await asyncio.wait_for(ws.recv(), WAIT)  # response.created: it was in time
    assert play.verdict().ok, play.verdict().findings


async def test_a_respond_the_client_never_asks_for_is_bounded() -> None:
    text = """
timeout: 1.5s
steps:
  - respond: {text: "nobody asked"}
"""
    async with served(text) as (server, play), client(server) as ws:
        await events_until_closed(ws)
    findings = "\n".join(play.verdict().findings)
    assert "the client did not ask for this response within 1.5s" in findings


async def test_an_optional_step_that_never_comes_is_skipped_not_failed() -> None:
    text = """
timeout: 1.5s
steps:
  - optional:
      - expect: session.update
"""
    async with served(text) as (server, play), client(server) as ws:
        await asyncio.wait_for(ws.recv(), WAIT)  # session.created
        assert await asyncio.to_thread(_settles, play)
    assert play.verdict().ok, play.verdict().findings


def _settles(play: ServedScenario) -> bool:
    import time

    deadline = time.monotonic() + WAIT
    while time.monotonic() < deadline:
        if play.runners and not play.runners[0].waiting() and play.runners[0].cursor == 1:
            return True
        time.sleep(0.01)
    return False
