"""Testing the weather agent offline with realtime-mock's pytest plugin.

Run with ``pytest examples/``: the ``realtime_mock`` fixture comes with the package.
"""

from __future__ import annotations

from typing import Any

from agent import WeatherAgent


def test_the_agent_runs_the_tool_the_model_calls(realtime_mock: Any) -> None:
    mock = realtime_mock("function_call")
    agent = WeatherAgent(api_key=mock.api_key, base_url=mock.base_url)
    assert agent.ask("What's the weather in Paris?") == "It is sunny in Paris."
    mock.assert_received(
        "conversation.item.create",
        item={"type": "function_call_output", "call_id": "call_weather_1"},
    )
    mock.assert_verdict_ok()


def test_the_agent_answers_without_tools(realtime_mock: Any) -> None:
    mock = realtime_mock()  # the canned model echoes
    agent = WeatherAgent(api_key=mock.api_key, base_url=mock.base_url)
    assert agent.ask("Hello") == 'You said: "Hello".'
