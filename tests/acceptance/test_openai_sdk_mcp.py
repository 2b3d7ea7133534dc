"""The official openai Python SDK, unchanged, through the MCP library scenarios: the SDK parses
every MCP event and item into its own types, and the verdict is ok."""

from __future__ import annotations

from typing import Any

from openai import AsyncOpenAI
from openai.types.realtime import (
    McpListToolsCompleted,
    RealtimeMcpApprovalRequest,
    RealtimeMcpListTools,
    RealtimeMcpToolCall,
    ResponseMcpCallCompleted,
)

from mock_server.scenario.loader import load_scenario, resolve_scenario
from mock_server.scenario.served import ServedScenario
from tests.acceptance.test_openai_sdk import collect_until
from tests.helpers import serving, user_message


def mcp_tool(label: str, require_approval: str) -> dict[str, Any]:
    url = f"https://{label}.example.com/mcp"
    return {
        "type": "mcp",
        "server_label": label,
        "server_url": url,
        "require_approval": require_approval,
    }


def done_items(events: list[Any]) -> list[Any]:
    return [e.item for e in events if e.type == "response.output_item.done"]


async def test_the_sdk_runs_the_mcp_call_scenario_with_typed_events() -> None:
    play = ServedScenario(load_scenario(resolve_scenario("mcp_call")))
    async with serving(play.mount()) as server:
        client = AsyncOpenAI(api_key="sk-test", base_url=server.base_url)
        async with client.realtime.connect(model="gpt-realtime") as conn:
            session = {"type": "realtime", "tools": [mcp_tool("docs", "never")]}
            await conn.session.update(session=session)
            listed = await collect_until(conn, "conversation.item.done")
            await conn.conversation.item.create(item=user_message("How long can a session last?"))
            await conn.response.create()
            events = await collect_until(conn, "response.done")
        await server.wait_for_sessions(at_most=0)
    assert any(isinstance(e, McpListToolsCompleted) for e in listed)
    assert isinstance(listed[-1].item, RealtimeMcpListTools)
    # The scenario's calls name the server's tools, with a schema from their arguments.
    (tool,) = listed[-1].item.tools
    assert tool.name == "search_docs"
    assert tool.input_schema == {"type": "object", "properties": {"query": {"type": "string"}}}
    call = done_items(events)[0]
    assert isinstance(call, RealtimeMcpToolCall)
    assert call.output == "A Realtime session lasts at most 60 minutes."
    assert any(isinstance(e, ResponseMcpCallCompleted) for e in events)
    assert play.verdict().ok, play.verdict()


async def test_the_sdk_answers_an_approval_request_and_the_call_runs() -> None:
    play = ServedScenario(load_scenario(resolve_scenario("mcp_approval")))
    async with serving(play.mount()) as server:
        client = AsyncOpenAI(api_key="sk-test", base_url=server.base_url)
        async with client.realtime.connect(model="gpt-realtime") as conn:
            session = {"type": "realtime", "tools": [mcp_tool("calendar", "always")]}
            await conn.session.update(session=session)
            await conn.conversation.item.create(item=user_message("What's on today?"))
            await conn.response.create()
            asked = await collect_until(conn, "response.done")
            (request,) = done_items(asked)
            assert isinstance(request, RealtimeMcpApprovalRequest)
            await conn.conversation.item.create(
                item={
                    "type": "mcp_approval_response",
                    "id": "mcpa_1",
                    "approval_request_id": request.id,
                    "approve": True,
                }
            )
            await conn.response.create()
            events = await collect_until(conn, "response.done")
        await server.wait_for_sessions(at_most=0)
    call, message = done_items(events)
    assert isinstance(call, RealtimeMcpToolCall)
    assert call.approval_request_id == request.id and call.output
    assert message.type == "message"
    assert play.verdict().ok, play.verdict()
