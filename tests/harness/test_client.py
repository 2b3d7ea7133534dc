"""The reference client against the mock."""

from __future__ import annotations

import asyncio
import json
import random
from collections.abc import AsyncIterator
from typing import Any

import pytest
from websockets.http11 import Request, Response

from harness.client import (
    AuthenticationError,
    Backoff,
    ClientConfig,
    HandshakeRefused,
    RealtimeClient,
)
from mock_server.protocol.http import openai_error
from mock_server.server import MockServer, Mount
from mock_server.timing import STEADY
from tests.helpers import serving

WEATHER = {
    "type": "function",
    "name": "get_weather",
    "description": "Weather in a city",
    "parameters": {
        "type": "object",
        "properties": {"city": {"type": "string"}},
        "required": ["city"],
    },
}


@pytest.fixture
async def server() -> AsyncIterator[MockServer]:
    async with serving(Mount(pace=0.0, seed="client")) as running:
        yield running


def config(server: MockServer, **kwargs: Any) -> ClientConfig:
    kwargs.setdefault("session", {"output_modalities": ["text"]})
    return ClientConfig(url=server.ws_url, api_key="sk-test", timeout_s=5.0, **kwargs)


@pytest.mark.parametrize("dialect", ["ga", "beta"])
async def test_text_turn(server: MockServer, dialect: str) -> None:
    model = "gpt-realtime" if dialect == "ga" else "gpt-4o-realtime-preview"
    async with RealtimeClient(config(server, dialect=dialect, model=model)) as client:
        turn = await client.say("Hello")
    assert turn.text == 'You said: "Hello".'
    assert turn.status == "completed"


@pytest.mark.parametrize("dialect", ["ga", "beta"])
async def test_function_call_loop_sends_the_output_with_the_call_id(
    server: MockServer, dialect: str
) -> None:
    calls: list[dict[str, Any]] = []

    def get_weather(arguments: dict[str, Any]) -> dict[str, Any]:
        calls.append(arguments)
        return {"sky": "sunny"}

    choice: Any = {"type": "function", "name": "get_weather"}
    cfg = config(
        server,
        dialect=dialect,
        model="gpt-realtime" if dialect == "ga" else "gpt-4o-realtime-preview",
        session={"output_modalities": ["text"], "tool_choice": choice},
        tools={"get_weather": get_weather},
        tool_schemas=[WEATHER],
    )
    async with RealtimeClient(cfg) as client:
        turn = await client.say("Weather in Paris?")
    assert len(calls) == 1 and isinstance(calls[0]["city"], str)
    assert "sunny" in turn.text
    session = server.connections[-1].session
    assert session is not None
    assert session.findings == []
    outputs = session.transcript.client_events("conversation.item.create")
    call_output = next(e for e in outputs if e["item"]["type"] == "function_call_output")
    issued = session.transcript.server_events("response.function_call_arguments.done")
    assert call_output["item"]["call_id"] == issued[0]["call_id"]


async def test_audio_reply_is_collected(server: MockServer) -> None:
    async with RealtimeClient(config(server, session={"output_modalities": ["audio"]})) as client:
        turn = await client.say("Speak")
    assert len(turn.audio) > 0 and len(turn.audio) % 2 == 0
    assert turn.text == 'You said: "Speak".'


async def test_backoff_on_429_honours_retry_after() -> None:
    def first_two_rate_limited(attempt: int, request: Request) -> Response | None:
        if attempt <= 2:
            return openai_error(
                429,
                "Rate limit reached",
                code="rate_limit_exceeded",
                headers=[("retry-after", "0")],
            )
        return None

    mount = Mount(pace=0.0, handshake_policy=first_two_rate_limited)
    async with serving(mount) as server:
        async with RealtimeClient(config(server)) as client:
            turn = await client.say("after the storm")
        assert server.traffic(mount).attempts == 3
        assert turn.status == "completed"


async def test_backoff_gives_up_with_the_servers_message() -> None:
    def always_busy(attempt: int, request: Request) -> Response | None:
        return openai_error(503, "Overloaded", type_="server_error", headers=[("retry-after", "0")])

    mount = Mount(pace=0.0, handshake_policy=always_busy)
    async with serving(mount) as server:
        cfg = config(server, backoff=Backoff(retries=2))
        with pytest.raises(HandshakeRefused, match="HTTP 503: Overloaded"):
            await RealtimeClient(cfg).connect()
        assert server.traffic(mount).attempts == 3


def test_backoff_delays_grow_exponentially_with_full_jitter() -> None:
    backoff = Backoff(base_s=0.5, max_s=8.0, rng=random.Random(1))
    for attempt in range(8):
        assert 0 <= backoff.delay(attempt) <= min(8.0, 0.5 * 2**attempt)
    assert backoff.delay(3, retry_after=2.5) == 2.5


async def test_401_says_what_to_do() -> None:
    mount = Mount(pace=0.0, api_keys=frozenset({"sk-right"}))
    async with serving(mount) as server:
        with pytest.raises(AuthenticationError, match="OPENAI_API_KEY"):
            await RealtimeClient(config(server)).connect()


async def test_session_expiry_reconnects_and_replays_the_conversation() -> None:
    # Steady timing: no model latency, so that a turn fits in the 0.3 s session.
    mount = Mount(pace=1.0, timing=STEADY, max_duration_s=0.3, seed="expiry")
    async with serving(mount) as server:
        # A first connection pays the one-off costs (the SDK models behind validation load
        # lazily) that would otherwise eat the 0.3 s session before its first turn ends.
        server.mount(Mount(prefix="/warm-up", pace=0.0))
        warm = ClientConfig(url=server.ws_url.replace("/v1", "/warm-up/v1"), api_key="sk-test")
        async with RealtimeClient(warm) as client:
            await client.say("Warm up")
        cfg = config(server, session={"output_modalities": ["text"]})
        async with RealtimeClient(cfg) as client:
            first = await client.say("First question")
            assert client.ws is not None
            await asyncio.wait_for(client.ws.wait_closed(), 5)  # the session hits its limit
            second = await client.say("Second")
        assert client.reconnects == 1
        assert first.text == 'You said: "First question".'
        assert second.status == "completed"
        replayed = server.connections[2].transcript.client_events("conversation.item.create")
        texts = [json.dumps(e["item"]) for e in replayed]
        assert "First question" in texts[0]
        assert "You said" in texts[1]  # the assistant's answer, replayed as text
        assert server.connections[1].transcript.closed == (
            1001,
            "Your session hit the maximum duration of 0.3 seconds.",
        )


def test_the_dialect_is_the_one_enum_and_its_name_is_accepted() -> None:
    from mock_server.protocol.events import Dialect

    assert ClientConfig(url="ws://x", api_key="k").dialect is Dialect.GA
    assert ClientConfig(url="ws://x", api_key="k", dialect="beta").dialect is Dialect.BETA
    assert ClientConfig(url="ws://x", api_key="k", dialect=Dialect.BETA).dialect is Dialect.BETA
    with pytest.raises(ValueError, match="'gamma' is not a valid Dialect"):
        ClientConfig(url="ws://x", api_key="k", dialect="gamma")
