"""MCP tools in a session (mock_server/session/mcp.py), driven without a socket.

Every event is checked against the SDK's models as it is emitted (tests/conftest.py installs
the conformance check); these tests check the order, the items and the findings.
"""

from __future__ import annotations

import json
from typing import Any

from mock_server.protocol.events import Dialect
from mock_server.responder import McpCallOutput, MessageOutput, ResponsePlan
from tests.helpers import SessionDriver, types, user_text

DOCS = {
    "type": "mcp",
    "server_label": "docs",
    "server_url": "https://docs.example.com/mcp",
    "allowed_tools": ["search", "fetch"],
    "require_approval": "never",
}
SEARCH = McpCallOutput("docs", "search", json.dumps({"query": "realtime"}), "3 pages found")


def driver(**tool: Any) -> SessionDriver:
    d = SessionDriver()
    d.session_update(tools=[{**DOCS, **tool}], output_modalities=["text"])
    return d


def respond(d: SessionDriver, *outputs: Any) -> list[dict[str, Any]]:
    d.session.create_response(ResponsePlan(list(outputs)))
    return d.take()


def approve(d: SessionDriver, request_id: str, approve: bool = True) -> list[dict[str, Any]]:
    item = {
        "type": "mcp_approval_response",
        "id": f"answer_{request_id}",
        "approval_request_id": request_id,
        "approve": approve,
    }
    return d.send({"type": "conversation.item.create", "event_id": "e_ok", "item": item})


def kinds(d: SessionDriver) -> list[str]:
    return [f.kind for f in d.session.findings]


def output_items(events: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [e["item"] for e in events if e["type"] == "response.output_item.done"]


# ---- listing ---------------------------------------------------------------------------------


def test_an_mcp_server_in_the_session_is_listed_once_after_session_updated() -> None:
    d = SessionDriver()
    events = d.session_update(tools=[DOCS])
    assert types(events) == [
        "session.updated",
        "conversation.item.added",
        "mcp_list_tools.in_progress",
        "mcp_list_tools.completed",
        "conversation.item.done",
    ]
    added, done = events[1]["item"], events[4]["item"]
    assert added["type"] == "mcp_list_tools" and added["tools"] == []
    assert [t["name"] for t in done["tools"]] == ["search", "fetch"]
    assert events[2]["item_id"] == events[3]["item_id"] == done["id"]
    # The same server again is not listed again; a new one is.
    assert types(d.session_update(tools=[DOCS])) == ["session.updated"]
    other = {**DOCS, "server_label": "calendar", "connector_id": "connector_googlecalendar"}
    del other["server_url"]
    assert "mcp_list_tools.completed" in types(d.session_update(tools=[DOCS, other]))


def test_an_unreachable_server_fails_its_listing_and_its_calls() -> None:
    d2 = SessionDriver()
    events = d2.session_update(tools=[{**DOCS, "server_url": "https://nowhere.invalid/mcp"}])
    assert "mcp_list_tools.failed" in types(events)
    assert events[-1]["item"]["tools"] == []
    d2.session_update(output_modalities=["text"])
    call = respond(d2, SEARCH)
    assert "response.mcp_call.failed" in types(call)
    item = output_items(call)[0]
    assert item["error"]["type"] == "http_error" and item["output"] is None


# ---- calls -----------------------------------------------------------------------------------


def test_an_mcp_call_streams_its_arguments_runs_and_completes_in_order() -> None:
    d = driver()
    events = respond(d, SEARCH, MessageOutput("Found three pages."))
    call_events = [t for t in types(events) if "mcp" in t or "output_item" in t or "item." in t]
    assert call_events[:4] == [
        "response.output_item.added",
        "conversation.item.added",
        "response.mcp_call_arguments.delta",
        "response.mcp_call_arguments.delta",
    ]
    order = [t for t in types(events) if "delta" not in t]
    start = order.index("response.mcp_call_arguments.done")
    assert order[start : start + 5] == [
        "response.mcp_call_arguments.done",
        "response.mcp_call.in_progress",
        "response.mcp_call.completed",
        "response.output_item.done",
        "conversation.item.done",
    ]
    deltas = [e["delta"] for e in events if e["type"] == "response.mcp_call_arguments.delta"]
    assert "".join(deltas) == SEARCH.arguments
    call, message = output_items(events)
    assert call["type"] == "mcp_call" and call["output"] == "3 pages found"
    assert call["approval_request_id"] is None and call["error"] is None
    assert message["type"] == "message"
    done = events[-1]
    assert done["type"] == "response.done"
    assert [i["type"] for i in done["response"]["output"]] == ["mcp_call", "message"]
    assert kinds(d) == []


def test_a_failing_tool_sends_mcp_call_failed_and_the_error_in_the_item() -> None:
    d = driver()
    error = {"type": "tool_execution_error", "message": "index offline"}
    events = respond(d, McpCallOutput("docs", "search", "{}", None, error))
    assert "response.mcp_call.failed" in types(events)
    assert "response.mcp_call.completed" not in types(events)
    assert output_items(events)[0]["error"] == error


def test_a_call_to_a_server_the_session_does_not_name_fails_the_response() -> None:
    d = SessionDriver()
    d.session_update(output_modalities=["text"])
    events = respond(d, SEARCH)
    done = events[-1]["response"]
    assert done["status"] == "failed"
    assert "tools name no MCP server 'docs'" in done["status_details"]["error"]["message"]
    assert kinds(d) == ["mcp_tool_unavailable"]


def test_a_tool_outside_allowed_tools_is_unavailable() -> None:
    d = driver(allowed_tools=["fetch"])
    events = respond(d, SEARCH)
    assert events[-1]["response"]["status"] == "failed"
    assert "does not allow tool 'search'" in d.session.findings[0].message


# ---- approvals -------------------------------------------------------------------------------


def test_require_approval_asks_first_and_holds_the_rest_of_the_response() -> None:
    d = driver(require_approval="always")
    asked = respond(d, SEARCH, MessageOutput("Found three pages."))
    (request,) = output_items(asked)
    assert request["type"] == "mcp_approval_request"
    assert (request["server_label"], request["name"]) == ("docs", "search")
    assert json.loads(request["arguments"]) == {"query": "realtime"}
    assert not [t for t in types(asked) if t.startswith("response.mcp_call")]
    assert asked[-1]["response"]["status"] == "completed"

    answered = approve(d, request["id"])
    assert types(answered) == ["conversation.item.added", "conversation.item.done"]
    resumed = d.send({"type": "response.create"})
    call, message = output_items(resumed)
    assert call["type"] == "mcp_call" and call["approval_request_id"] == request["id"]
    assert call["output"] == "3 pages found"
    assert message["content"][0]["text"] == "Found three pages."
    assert kinds(d) == []


def test_a_denied_call_does_not_run_and_the_model_says_so() -> None:
    d = driver(require_approval={"always": {"tool_names": ["search"]}})
    (request,) = output_items(respond(d, SEARCH))
    approve(d, request["id"], approve=False)
    resumed = d.send({"type": "response.create"})
    assert not [t for t in types(resumed) if t.startswith("response.mcp_call")]
    (message,) = output_items(resumed)
    assert "not approved" in message["content"][0]["text"]


def test_require_approval_is_the_default_and_a_never_filter_skips_it() -> None:
    tool = {k: v for k, v in DOCS.items() if k != "require_approval"}
    d = SessionDriver()
    d.session_update(tools=[tool], output_modalities=["text"])
    assert output_items(respond(d, SEARCH))[0]["type"] == "mcp_approval_request"
    d = driver(require_approval={"never": {"tool_names": ["search"]}})
    assert output_items(respond(d, SEARCH))[0]["type"] == "mcp_call"


def test_an_approval_that_names_no_request_is_a_finding() -> None:
    d = driver(require_approval="always")
    events = approve(d, "item_never_made")
    assert types(events) == ["conversation.item.added", "conversation.item.done"]
    (finding,) = d.session.findings
    assert (finding.kind, finding.event_id) == ("unknown_approval_request", "e_ok")
    assert "'item_never_made', which the model never made" in finding.message


def test_answering_a_request_twice_is_a_finding_and_the_first_answer_stands() -> None:
    d = driver(require_approval="always")
    (request,) = output_items(respond(d, SEARCH))
    approve(d, request["id"], approve=True)
    d.send(
        {
            "type": "conversation.item.create",
            "item": {
                "type": "mcp_approval_response",
                "id": "second",
                "approval_request_id": request["id"],
                "approve": False,
            },
        }
    )
    assert kinds(d) == ["approval_answered_twice"]
    assert output_items(d.send({"type": "response.create"}))[0]["type"] == "mcp_call"


def test_a_response_that_proceeds_without_the_approval_is_a_finding() -> None:
    d = driver(require_approval="always")
    (request,) = output_items(respond(d, SEARCH))
    d.send(user_text("never mind, just answer"))
    events = d.send({"type": "response.create", "event_id": "e_skip"})
    assert not [t for t in types(events) if t.startswith("response.mcp_call")]
    (finding,) = d.session.findings
    assert (finding.kind, finding.event_id) == ("pending_mcp_approval", "e_skip")
    assert request["id"] in finding.message
    # Answered late, the held response still continues.
    approve(d, request["id"])
    assert output_items(d.send({"type": "response.create"}))[0]["type"] == "mcp_call"


def test_cancelling_during_a_call_closes_its_item_incomplete() -> None:
    d = SessionDriver(pace=1.0)
    d.session_update(tools=[DOCS], output_modalities=["text"])
    d.session.create_response(ResponsePlan([SEARCH]))
    started = d.take()
    for _ in range(100):  # the response's latency, on the driver's clock
        if "response.mcp_call_arguments.delta" in types(started):
            break
        started += d.advance(0.05)
    assert "response.mcp_call_arguments.delta" in types(started)
    assert "response.mcp_call.completed" not in types(started)
    events = d.send({"type": "response.cancel"})
    assert output_items(events)[0]["status"] == "incomplete"
    assert events[-1]["response"]["status"] == "cancelled"


# ---- the beta dialect --------------------------------------------------------------------------


def test_beta_refuses_mcp_tools_and_mcp_items_as_the_beta_sdk_types_do() -> None:
    d = SessionDriver(Dialect.BETA, model="gpt-4o-realtime-preview")
    (error,) = d.session_update(tools=[DOCS])
    assert error["type"] == "error"
    assert (error["error"]["code"], error["error"]["param"]) == (
        "invalid_value",
        "session.tools[0].type",
    )
    item = {"type": "mcp_approval_response", "id": "a", "approval_request_id": "r", "approve": True}
    (error,) = d.send({"type": "conversation.item.create", "item": item})
    assert error["error"]["param"] == "item.type"
    # A beta scenario's mcp_call finds no MCP server: the response fails, saying why.
    events = respond(d, SEARCH)
    assert events[-1]["response"]["status"] == "failed"


def test_mcp_servers_the_session_starts_with_are_listed_after_session_created() -> None:
    d = SessionDriver(session_overrides={"tools": [DOCS]})
    assert types(d.opening) == [
        "session.created",
        "conversation.item.added",
        "mcp_list_tools.in_progress",
        "mcp_list_tools.completed",
        "conversation.item.done",
    ]


def test_an_mcp_server_in_the_response_tools_serves_that_response() -> None:
    d = SessionDriver()
    d.session_update(output_modalities=["text"])
    d.session.create_response(ResponsePlan([SEARCH]), {"tools": [DOCS]})
    (call,) = output_items(d.take())
    assert call["type"] == "mcp_call" and call["output"] == "3 pages found"


def test_the_listing_holds_the_declared_tools_within_allowed_tools() -> None:
    d = SessionDriver()
    search = {"name": "search", "input_schema": {"type": "object", "properties": {"q": {}}}}
    other = {"name": "x", "input_schema": {"type": "object"}}
    d.session.responses.mcp.declare({"docs": [search], "other": [other]})
    listed = d.session_update(tools=[{**DOCS, "allowed_tools": ["search", "fetch"]}])[-1]["item"]
    assert listed["tools"] == [
        search,
        {"name": "fetch", "input_schema": {"type": "object", "properties": {}}},
    ]
    unlimited = {**DOCS, "server_label": "other"}
    del unlimited["allowed_tools"]
    assert d.session_update(tools=[unlimited])[-1]["item"]["tools"] == [other]


def test_the_approval_requests_a_session_remembers_are_bounded(monkeypatch: Any) -> None:
    from mock_server.session import mcp

    monkeypatch.setattr(mcp, "MAX_APPROVAL_REQUESTS", 4)
    d = driver(require_approval="always")
    asked = []
    for n in range(6):
        call = McpCallOutput("docs", "search" if n % 2 else "fetch", "{}", "ok")
        (request,) = output_items(respond(d, call))
        asked.append(request["id"])
        approve(d, request["id"], approve=n % 3 == 0)
        d.send({"type": "response.create"})
    servers = d.session.responses.mcp
    assert len(servers.requests) <= 4
    assert asked[-1] in servers.requests
    late = {"type": "mcp_approval_response", "id": "late", "approval_request_id": asked[0]}
    d.send({"type": "conversation.item.create", "item": {**late, "approve": True}})
    assert d.session.findings[-1].kind == "unknown_approval_request"
