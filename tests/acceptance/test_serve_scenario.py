"""``realtime-mock serve --scenario``: the official SDK through a scripted function call."""

from __future__ import annotations

import asyncio
import json
import os
import re
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from openai import AsyncOpenAI

SCENARIO = Path(__file__).resolve().parents[2] / "scenarios" / "function_call.yaml"
WAIT = 15.0


@pytest.fixture
def served() -> Iterator[tuple[str, subprocess.Popen[str]]]:
    process = subprocess.Popen(
        [sys.executable, "-m", "harness.cli", "serve", "--port", "0", "--scenario", str(SCENARIO)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )
    assert process.stdout is not None
    match = re.search(r"ws://127\.0\.0\.1:(\d+)/v1/realtime", process.stdout.readline())
    assert match
    try:
        yield f"http://127.0.0.1:{match.group(1)}/v1", process
    finally:
        if process.poll() is None:
            process.kill()
            process.wait(WAIT)


async def round_trip(base_url: str, dialect: str) -> list[Any]:
    ws_base = base_url.replace("http://", "ws://")
    client = AsyncOpenAI(api_key="sk-test", base_url=base_url, websocket_base_url=ws_base)
    if dialect == "ga":
        manager: Any = client.realtime.connect(model="gpt-realtime")
    else:
        manager = client.beta.realtime.connect(model="gpt-4o-realtime-preview")
    seen: list[Any] = []
    async with manager as conn:

        async def until(last: str) -> Any:
            async for event in conn:
                seen.append(event)
                if event.type == last:
                    return event
            raise AssertionError(f"closed before {last}")

        await conn.conversation.item.create(
            item={
                "type": "message",
                "role": "user",
                "content": [{"type": "input_text", "text": "Weather in Paris?"}],
            }
        )
        await conn.response.create()
        done = await asyncio.wait_for(until("response.done"), WAIT)
        call = done.response.output[0]
        assert call.type == "function_call" and call.name == "get_weather"
        assert json.loads(call.arguments) == {"city": "Paris"}
        await conn.conversation.item.create(
            item={
                "type": "function_call_output",
                "call_id": call.call_id,
                "output": '{"sky":"sunny"}',
            }
        )
        await conn.response.create()
        await asyncio.wait_for(until("response.done"), WAIT)
    return seen


@pytest.mark.parametrize("dialect", ["ga", "beta"])
def test_sdk_follows_the_scripted_function_call(
    served: tuple[str, subprocess.Popen[str]], dialect: str
) -> None:
    base_url, process = served
    seen = asyncio.run(round_trip(base_url, dialect))
    text_done = "response.output_text.done" if dialect == "ga" else "response.text.done"
    assert [e.text for e in seen if e.type == text_done] == ["It is sunny in Paris."]
    process.send_signal(signal.SIGTERM)
    _, err = process.communicate(timeout=WAIT)
    verdict = json.loads(err[err.index("{") :])
    assert verdict["ok"], verdict["findings"]
    assert process.returncode == 0
    assert verdict["connections"][0]["satisfied"][-1].startswith("respond")


def test_serve_exits_1_on_stop_when_the_verdict_is_not_ok(
    served: tuple[str, subprocess.Popen[str]],
) -> None:
    _, process = served
    process.send_signal(signal.SIGTERM)  # before any client came: the scenario is unmet
    _, err = process.communicate(timeout=WAIT)
    verdict = json.loads(err[err.index("{") : err.rindex("}") + 1])
    assert not verdict["ok"]
    assert process.returncode == 1
    assert "the scenario's verdict is not ok: exit 1" in err
