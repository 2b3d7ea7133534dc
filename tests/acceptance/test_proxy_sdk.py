"""The official openai SDK, unchanged, through the pass-through and the recorder.

The SDK is pointed at the relaying mock as at any mock (``base_url``); the upstream is a second
realtime-mock. A function-call round trip goes through, in both dialects; the recording lints,
and the SDK replaying it against ``serve --scenario``'s mount gets the same events (ids aside).
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from openai import AsyncOpenAI

from mock_server.record import Recorder
from mock_server.relay import Upstream
from mock_server.scenario.lint import lint_paths
from mock_server.scenario.loader import load_scenario
from mock_server.scenario.served import ServedScenario
from mock_server.server import MockServer, Mount
from tests.helpers import WAIT, serving, user_message

TOOL: dict[str, Any] = {
    "type": "function",
    "name": "get_weather",
    "description": "Current weather in a city",
    "parameters": {
        "type": "object",
        "properties": {"city": {"type": "string"}},
        "required": ["city"],
    },
}


@pytest.fixture
async def upstream() -> AsyncIterator[MockServer]:
    async with serving(Mount(pace=0.0, seed="up")) as server:
        yield server


def sdk(server: MockServer, beta: bool) -> AsyncOpenAI:
    if beta:
        ws_base = server.base_url.replace("http://", "ws://")
        return AsyncOpenAI(api_key="sk-test", base_url=server.base_url, websocket_base_url=ws_base)
    return AsyncOpenAI(api_key="sk-test", base_url=server.base_url)


async def collect_until(connection: Any, last: str) -> list[Any]:
    events: list[Any] = []

    async def run() -> None:
        async for event in connection:
            events.append(event)
            if event.type == last:
                return

    await asyncio.wait_for(run(), WAIT)
    return events


async def weather_round_trip(server: MockServer, beta: bool) -> list[Any]:
    """Text session, a forced tool call, its output, the answer: every event the SDK parsed."""
    client = sdk(server, beta)
    realtime = client.beta.realtime if beta else client.realtime
    async with realtime.connect(model="gpt-realtime") as conn:  # type: ignore[attr-defined]
        events = await collect_until(conn, "session.created")
        session: dict[str, Any] = {"tools": [TOOL], "tool_choice": "required"}
        if beta:
            session.update(modalities=["text"])
        else:
            session.update(type="realtime", output_modalities=["text"])
        await conn.session.update(session=session)
        events += await collect_until(conn, "session.updated")
        await conn.conversation.item.create(item=user_message("Weather in Paris?"))
        await conn.response.create()
        events += await collect_until(conn, "response.done")
        call = next(e for e in events if e.type == "response.function_call_arguments.done")
        await conn.conversation.item.create(
            item={"type": "function_call_output", "call_id": call.call_id, "output": "sunny"}
        )
        await conn.response.create(response={"tool_choice": "none"})
        events += await collect_until(conn, "response.done")
    return events


def shape(events: list[Any]) -> list[tuple[str, str]]:
    """Types and the text the user sees (ids and timestamps differ between runs)."""
    out = []
    for event in events:
        data = event.model_dump()
        said = data.get("text") or data.get("arguments") or data.get("delta") or ""
        out.append((event.type, str(said)))
    return out


@pytest.mark.parametrize("beta", [False, True], ids=["ga", "beta"])
async def test_the_sdk_works_through_the_proxy_and_its_recording_replays(
    upstream: MockServer, tmp_path: Path, beta: bool
) -> None:
    recorder = Recorder(tmp_path / "sdk.yaml", upstream=upstream.ws_url)
    mount = Mount(upstream=Upstream(url=upstream.ws_url, api_key=None, recorder=recorder))
    async with serving(mount) as proxy:
        live = await weather_round_trip(proxy, beta)
        await proxy.wait_for_sessions(0)
    answer = next(e for e in reversed(live) if e.type.endswith("text.done"))
    assert answer.text == "The tool returned: sunny"
    assert recorder.written and lint_paths([str(tmp_path)]) == []

    play = ServedScenario(load_scenario(tmp_path / "sdk.yaml"))
    async with serving(play.mount()) as replaying:
        replayed = await weather_round_trip(replaying, beta)
        await replaying.wait_for_sessions(0)
    assert shape(replayed) == shape(live)
    verdict = play.verdict().to_dict()
    assert verdict["ok"], json.dumps(verdict["findings"])
