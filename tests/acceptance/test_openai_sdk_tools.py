"""The official openai Python SDK with tools and no scenario: the canned model calls the tool
a weather question names (``tool_choice: auto``), then answers quoting the tool's output."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from typing import Any

import jsonschema
import pytest

from mock_server.server import MockServer, Mount
from tests.acceptance.test_openai_sdk import beta_client, collect_until, ga_client
from tests.helpers import WEATHER_TOOL, serving, user_message

TIME_TOOL: dict[str, Any] = {
    "type": "function",
    "name": "get_time",
    "description": "The time now in a timezone",
    "parameters": {"type": "object", "properties": {"timezone": {"type": "string"}}},
}


@pytest.fixture
async def server() -> AsyncIterator[MockServer]:
    async with serving(Mount(pace=0.0, seed="sdk-tools")) as running:
        yield running


async def test_ga_weather_question_calls_get_weather_then_quotes_it(server: MockServer) -> None:
    async with ga_client(server).realtime.connect(model="gpt-realtime") as conn:
        await conn.session.update(
            session={
                "type": "realtime",
                "output_modalities": ["text"],
                "tools": [TIME_TOOL, WEATHER_TOOL],  # type: ignore[list-item]
                "tool_choice": "auto",
            }
        )
        await conn.conversation.item.create(item=user_message("What's the weather in Paris?"))
        await conn.response.create()
        events = await collect_until(conn, "response.done")
        call = next(e for e in events if e.type == "response.function_call_arguments.done")
        assert call.name == "get_weather"
        arguments = json.loads(call.arguments)
        jsonschema.validate(arguments, WEATHER_TOOL["parameters"])
        assert arguments["city"] == "Paris"
        assert events[-1].response.output[0].type == "function_call"
        await conn.conversation.item.create(
            item={
                "type": "function_call_output",
                "call_id": call.call_id,
                "output": '{"sky": "sunny", "c": 21}',
            }
        )
        await conn.response.create()
        answer = await collect_until(conn, "response.done")
        text = next(e.text for e in answer if e.type == "response.output_text.done")
        assert '{"sky": "sunny", "c": 21}' in text
        # Words that name no tool get words back.
        await conn.conversation.item.create(item=user_message("Thanks, bye"))
        await conn.response.create()
        last = await collect_until(conn, "response.done")
    assert not any(e.type.startswith("response.function_call") for e in last)


async def test_beta_weather_question_calls_get_weather(server: MockServer) -> None:
    async with beta_client(server).beta.realtime.connect(model="gpt-4o-realtime-preview") as conn:
        await conn.session.update(
            session={"modalities": ["text"], "tools": [WEATHER_TOOL]}  # type: ignore[list-item]
        )
        await conn.conversation.item.create(item=user_message("Weather in Rome, please"))  # type: ignore[arg-type]
        await conn.response.create()
        events = await collect_until(conn, "response.done")
    call = next(e for e in events if e.type == "response.function_call_arguments.done")
    assert json.loads(call.arguments) == {"city": "Rome", "unit": "c"}
