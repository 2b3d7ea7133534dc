"""The canned model's own tool calls (mock_server/canned_tools.py): which tool the user's words
name, the arguments their words give, and the round trip in a session."""

from __future__ import annotations

import json
from typing import Any

import jsonschema
import pytest

from mock_server.canned_tools import arguments_from_words, name_parts, named_tool
from mock_server.protocol.events import Dialect
from mock_server.protocol.schema_values import example_for_schema
from mock_server.responder import (
    CannedResponder,
    FunctionCallOutput,
    MessageOutput,
    ResponseRequest,
)
from tests.helpers import WEATHER_TOOL, SessionDriver, user_message


def _tool(name: str, description: str = "", **properties: Any) -> dict[str, Any]:
    return {
        "type": "function",
        "name": name,
        "description": description,
        "parameters": {
            "type": "object",
            "properties": properties,
            "required": list(properties),
        },
    }


TIME = _tool("get_time", "The time now in a timezone", timezone={"type": "string"})
STOCK = _tool("getStockPrice", "Latest quote of a share", symbol={"type": "string"})
SEARCH = _tool("search_docs", "Search the handbook", query={"type": "string"})
TOOLS = [TIME, WEATHER_TOOL, STOCK, SEARCH]


@pytest.mark.parametrize(
    ("said", "name"),
    [
        ("What's the weather in Paris?", "get_weather"),
        ("what is the time", "get_time"),
        ("price of AAPL please", "getStockPrice"),  # a part of a camelCase name
        ("Any quotes for shares?", "getStockPrice"),  # description words, plurals
        ("look it up in the handbook", "search_docs"),
        ("Get me the weather and the time", "get_time"),  # a tie: the first listed
    ],
)
def test_the_tool_the_words_name_is_called(said: str, name: str) -> None:
    tool = named_tool(said, TOOLS)
    assert tool is not None and tool["name"] == name


@pytest.mark.parametrize("said", ["Hello, mock", "Get me something", "Tell me what you know"])
def test_words_that_name_no_tool_call_none(said: str) -> None:
    assert named_tool(said, TOOLS) is None


def test_generic_verbs_are_no_part_of_a_name() -> None:
    assert name_parts("get_weather") == {"weather"}
    assert name_parts("listUserAccounts") == {"user", "account"}


def _arguments(said: str, tool: dict[str, Any]) -> dict[str, Any]:
    params = tool["parameters"]
    args = arguments_from_words(said, params, example_for_schema(params))
    jsonschema.validate(args, params)
    return args


def test_a_location_is_the_capitalised_words_after_a_preposition() -> None:
    assert _arguments("What's the weather in Paris?", WEATHER_TOOL)["city"] == "Paris"
    assert _arguments("Is it raining in New York today?", WEATHER_TOOL)["city"] == "New York"
    # Not the capitalised word that starts the sentence, nor the one before the preposition.
    assert _arguments("Weather for Lyon. Thanks Bob", WEATHER_TOOL)["city"] == "Lyon"


def test_an_enum_takes_a_value_the_user_said_else_the_example() -> None:
    assert _arguments("weather in Oslo in f", WEATHER_TOOL)["unit"] == "f"
    assert _arguments("weather in Oslo", WEATHER_TOOL)["unit"] == "c"


def test_other_strings_take_the_capitalised_words_and_queries_the_whole_message() -> None:
    assert _arguments("price of AAPL please", STOCK) == {"symbol": "AAPL"}
    said = "search the handbook for holidays"
    assert _arguments(said, SEARCH) == {"query": said}


def test_nothing_that_fits_keeps_the_schema_example() -> None:
    assert _arguments("what's the weather", WEATHER_TOOL)["city"] == "example"
    short = _tool("get_weather", city={"type": "string", "maxLength": 3})
    assert _arguments("weather in Paris", short) == {"city": "exa"}
    coded = _tool("get_weather", city={"type": "string", "pattern": "^[a-z]+$"})
    assert "Paris" not in json.dumps(_arguments("weather in Paris", coded))


def test_numbers_fill_number_parameters_within_their_bounds() -> None:
    timer = _tool(
        "set_timer",
        "Start a countdown timer",
        minutes={"type": "integer", "minimum": 1, "maximum": 60},
    )
    assert _arguments("set a timer for 5 minutes", timer) == {"minutes": 5}
    assert _arguments("a timer for 500 minutes", timer) == {"minutes": 1}


# ---- the canned model --------------------------------------------------------------------------


def _respond(said: str, tools: list[dict[str, Any]], choice: Any = "auto") -> Any:
    request = ResponseRequest(context=[user_message(said)], tools=tools, tool_choice=choice)
    return CannedResponder().respond(request).outputs[0]


def test_the_canned_model_calls_a_named_tool_only_when_the_choice_is_auto() -> None:
    call = _respond("What's the weather in Paris?", TOOLS)
    assert isinstance(call, FunctionCallOutput) and call.name == "get_weather"
    assert json.loads(call.arguments) == {"city": "Paris", "unit": "c"}
    said = _respond("What's the weather in Paris?", TOOLS, "none")
    assert isinstance(said, MessageOutput) and said.text.startswith("You said")
    assert isinstance(_respond("Hello, mock", TOOLS), MessageOutput)


def test_a_forced_tool_takes_the_words_too() -> None:
    call = _respond("weather in Rome", [WEATHER_TOOL], "required")
    assert isinstance(call, FunctionCallOutput)
    assert json.loads(call.arguments)["city"] == "Rome"


@pytest.mark.parametrize("dialect", list(Dialect))
def test_a_session_without_a_scenario_calls_the_tool_then_quotes_its_output(
    dialect: Dialect,
) -> None:
    d = SessionDriver(dialect)
    if dialect is Dialect.GA:
        d.session_update(output_modalities=["text"], tools=[WEATHER_TOOL])
    else:
        d.session_update(modalities=["text"], tools=[WEATHER_TOOL])
    d.send({"type": "conversation.item.create", "item": user_message("Weather in Paris?")})
    events = d.send({"type": "response.create"})
    done = next(e for e in events if e["type"] == "response.function_call_arguments.done")
    assert json.loads(done["arguments"]) == {"city": "Paris", "unit": "c"}
    output = {"type": "function_call_output", "call_id": done["call_id"], "output": "sunny, 21"}
    d.send({"type": "conversation.item.create", "item": output})
    answer = d.send({"type": "response.create"})
    text_done = "response.output_text.done" if dialect is Dialect.GA else "response.text.done"
    assert "sunny, 21" in next(e["text"] for e in answer if e["type"] == text_done)
    assert not any(e["type"].startswith("response.function_call") for e in answer)
