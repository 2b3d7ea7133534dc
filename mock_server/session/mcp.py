"""MCP tools in a session: each server's tool list, the approvals, and the calls' events.

The service, not the client, runs an MCP tool: when the session's tools gain an MCP server
(``{type: mcp, server_label, server_url | connector_id, ...}``) its tools are listed in an
``mcp_list_tools`` item (``mcp_list_tools.in_progress``, then ``.completed``, or ``.failed``
for a ``server_url`` on a host under ``.invalid``, which never resolves); a response's
:class:`~mock_server.responder.McpCallOutput` streams as an ``mcp_call`` item
(``response.mcp_call_arguments.delta``/``.done``, ``response.mcp_call.in_progress``, then
``.completed`` or ``.failed``) that carries the tool's output or error. There is no server to
ask: the tools listed are the ones ``allowed_tools`` names, else the ones a script declares (a
scenario's calls name them), and a call's result is the plan's.

A call the server's ``require_approval`` covers (``always``, the default, or a filter naming the
tool) is asked for first: the response carries an ``mcp_approval_request`` item instead, and the
rest of the response is held. The client answers with ``conversation.item.create`` of an
``mcp_approval_response``; the next response then continues the held one, the call (with its
``approval_request_id``) if approved, without it if denied. An answer naming no request, and a
response that starts while a request awaits its answer, are the client's mistakes (findings).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from dataclasses import replace
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from mock_server.ids import IdFactory
from mock_server.responder import (
    McpApprovalRequestOutput,
    McpCallOutput,
    MessageOutput,
    Output,
    ResponsePlan,
)
from mock_server.session.conversation import Conversation
from mock_server.session.outbox import Outbox

if TYPE_CHECKING:
    from mock_server.session.responses import ResponseRun, Responses

# The approval requests a session remembers; past it the oldest half is forgotten.
MAX_APPROVAL_REQUESTS = 1000
# A server_url on a host under this reserved domain (RFC 6761) cannot be reached.
UNREACHABLE_DOMAIN = ".invalid"

Pauses = Iterator[float]
ItemStep = Callable[["Responses", "ResponseRun", int, dict[str, Any]], None]
CloseStep = Callable[["Responses", "ResponseRun", int, str], None]
Pieces = Callable[[str], Iterator[str]]
StreamDeltas = Callable[
    ["Responses", "ResponseRun", str, dict[str, Any], Iterable[str], dict[str, Any], str], Pauses
]
Steps = tuple[ItemStep, CloseStep, Pieces, StreamDeltas]


def needs_approval(tool: dict[str, Any], name: str) -> bool:
    """Whether ``tool`` (an MCP tool of the session) asks the client before running ``name``.

    >>> needs_approval({"require_approval": "never"}, "search")
    False
    >>> needs_approval({"require_approval": {"never": {"tool_names": ["search"]}}}, "search")
    False
    >>> needs_approval({}, "search")
    True
    """
    rule = tool.get("require_approval")
    if rule == "never":
        return False
    if isinstance(rule, dict):
        never = rule.get("never") or {}
        if name in (never.get("tool_names") or []):
            return False
    return True


def allowed_names(tool: dict[str, Any]) -> list[str] | None:
    """The tool names ``allowed_tools`` limits the server to (None: no limit)."""
    allowed = tool.get("allowed_tools")
    if isinstance(allowed, list):
        return [str(n) for n in allowed]
    if isinstance(allowed, dict) and isinstance(allowed.get("tool_names"), list):
        return [str(n) for n in allowed["tool_names"]]
    return None


def _unreachable(tool: dict[str, Any]) -> bool:
    host = urlsplit(str(tool.get("server_url") or "")).hostname or ""
    return host.endswith(UNREACHABLE_DOMAIN) or host == UNREACHABLE_DOMAIN[1:]


class McpServers:
    """The MCP servers of one session: listed once each, their approvals, the held response."""

    def __init__(self, outbox: Outbox, ids: IdFactory, conversation: Conversation) -> None:
        self.outbox = outbox
        self.ids = ids
        self.conversation = conversation
        self.mistakes = conversation.mistakes
        self.listed: dict[str, bool] = {}  # server_label -> its listing succeeded
        # The tools a script says each server has (by server_label), for the listings.
        self.declared: dict[str, list[dict[str, Any]]] = {}
        # Approval requests the model made: id -> (server_label, tool name); the answers not
        # yet used by a call (id -> approve); the requests whose answer a call used.
        self.requests: dict[str, tuple[str, str]] = {}
        self.answers: dict[str, bool] = {}
        self.used: set[str] = set()
        # The rest of a response from its approval request on, and that request's id.
        self.held: ResponsePlan | None = None
        self.held_for: str | None = None

    # ---- listing ----------------------------------------------------------------------------

    def tools_changed(self, tools: list[dict[str, Any]]) -> None:
        """The session's tools after an update: each MCP server new to it is listed."""
        for tool in tools:
            label = tool.get("server_label")
            if tool.get("type") == "mcp" and isinstance(label, str) and label not in self.listed:
                self._list(tool, label)

    def _list(self, tool: dict[str, Any], label: str) -> None:
        item: dict[str, Any] = {
            "id": self.ids.new("item"),
            "type": "mcp_list_tools",
            "server_label": label,
            "tools": [],
        }
        self.conversation.open_model_item(item)
        self.outbox.emit({"type": "mcp_list_tools.in_progress", "item_id": item["id"]})
        ok = not _unreachable(tool)
        self.listed[label] = ok
        if ok:
            item["tools"] = self._tools_of(tool, label)
        self.outbox.emit(
            {"type": f"mcp_list_tools.{'completed' if ok else 'failed'}", "item_id": item["id"]}
        )
        self.conversation.close_model_item(item, self.outbox.encoder.item(item))

    def declare(self, tools: dict[str, list[dict[str, Any]]]) -> None:
        """The tools each MCP server has (a scenario's calls name them), by server_label."""
        self.declared = tools

    def _tools_of(self, tool: dict[str, Any], label: str) -> list[dict[str, Any]]:
        """What the server lists: the tools ``allowed_tools`` names, else those declared."""
        declared = {t["name"]: t for t in self.declared.get(label, [])}
        allowed = allowed_names(tool)
        if allowed is None:
            return list(declared.values())
        empty = {"type": "object", "properties": {}}
        return [declared.get(name, {"name": name, "input_schema": empty}) for name in allowed]

    # ---- approvals --------------------------------------------------------------------------

    def answered(self, event: dict[str, Any]) -> None:
        """A client's ``conversation.item.create`` (added): an approval response is noted."""
        item = event.get("item") or {}
        if item.get("type") != "mcp_approval_response":
            return
        request_id = str(item.get("approval_request_id"))
        if request_id not in self.requests:
            # The latest few only: a long session's list would swamp the verdict.
            made = ", ".join(list(self.requests)[-5:]) or "none"
            if len(self.requests) > 5:
                made = f"{len(self.requests)}, the latest {made}"
            self.mistakes.find(
                "unknown_approval_request",
                f"mcp_approval_response {item.get('id')!r} answers approval request "
                f"{request_id!r}, which the model never made (made: {made})",
                event.get("event_id"),
            )
            return
        if request_id in self.answers or request_id in self.used:
            self.mistakes.find(
                "approval_answered_twice",
                f"mcp_approval_response {item.get('id')!r} answers approval request "
                f"{request_id!r} again; the first answer stands",
                event.get("event_id"),
            )
            return
        self.answers[request_id] = bool(item.get("approve"))

    def unanswered(self) -> list[str]:
        return [r for r in self.requests if r not in self.answers and r not in self.used]

    def before_response(self, event_id: str | None) -> None:
        """A conversation's response starts: one while a request awaits its answer proceeds
        without the approval (the call it asks for does not run)."""
        waiting = self.unanswered()[-5:]
        if waiting:
            calls = ", ".join(
                f"{self.requests[r][1]} on {self.requests[r][0]} ({r})" for r in waiting
            )
            self.mistakes.find(
                "pending_mcp_approval",
                f"a response started while MCP approval requests await an answer: {calls}",
                event_id,
            )

    def resume(self) -> ResponsePlan | None:
        """The held response, once the client has answered its approval request."""
        if self.held is None or self.held_for not in self.answers:
            return None
        plan, self.held, self.held_for = self.held, None, None
        return plan

    def drop_held(self) -> None:
        """A script's plan replaces the held response (its calls still use the answers)."""
        self.held, self.held_for = None, None

    def _answer(self, output: McpCallOutput) -> tuple[str, bool] | None:
        for request_id, approve in self.answers.items():
            if self.requests[request_id] == (output.server_label, output.name):
                del self.answers[request_id]
                self.used.add(request_id)
                return request_id, approve
        return None

    def _asking(self, output: McpCallOutput) -> bool:
        wanted = (output.server_label, output.name)
        return any(self.requests[r] == wanted for r in self.unanswered())

    def _remember(self, request_id: str, output: McpCallOutput) -> None:
        if len(self.requests) >= MAX_APPROVAL_REQUESTS:
            # Half are forgotten, oldest first: those a call has used before any other.
            oldest = sorted(self.requests, key=lambda r: r not in self.used)
            for old in oldest[: MAX_APPROVAL_REQUESTS // 2]:
                del self.requests[old]
                self.used.discard(old)
                self.answers.pop(old, None)
        self.requests[request_id] = (output.server_label, output.name)

    # ---- a response's plan ------------------------------------------------------------------

    def prepare(self, plan: ResponsePlan, tools: list[dict[str, Any]]) -> ResponsePlan:
        """``plan`` as the session can stream it: each MCP call checked against the tools,
        asked for when it needs approval (the rest held), run or left out once answered."""
        if not any(isinstance(o, McpCallOutput) for o in plan.outputs):
            return plan
        servers = {t.get("server_label"): t for t in tools if t.get("type") == "mcp"}
        outputs: list[Output] = []
        for n, output in enumerate(plan.outputs):
            if not isinstance(output, McpCallOutput):
                outputs.append(output)
                continue
            tool = servers.get(output.server_label)
            problem = self._unavailable(tool, output)
            if problem is not None:
                self.mistakes.find("mcp_tool_unavailable", problem)
                message = f"realtime-mock: the scenario's mcp_call cannot run: {problem}"
                error = {"type": "server_error", "code": None, "message": message}
                return ResponsePlan([], "failed", error=error)
            assert tool is not None
            if not self.listed.get(output.server_label, True):
                output = replace(
                    output,
                    output=None,
                    error={
                        "type": "http_error",
                        "code": 503,
                        "message": f"MCP server {output.server_label!r} could not be reached.",
                    },
                )
            if not needs_approval(tool, output.name):
                outputs.append(output)
                continue
            answer = self._answer(output)
            if answer is None:
                if self._asking(output):
                    continue  # asked, not answered: the model cannot run it
                request_id = self.ids.new("item")
                self._remember(request_id, output)
                outputs.append(
                    McpApprovalRequestOutput(
                        request_id, output.server_label, output.name, output.arguments
                    )
                )
                rest = [output, *plan.outputs[n + 1 :]]
                self.held = replace(plan, outputs=rest)
                self.held_for = request_id
                return ResponsePlan(outputs, timing=plan.timing)
            request_id, approve = answer
            if approve:
                outputs.append(replace(output, approval_request_id=request_id))
        if not outputs:
            calls = [o for o in plan.outputs if isinstance(o, McpCallOutput)]
            names = ", ".join(f"{c.name} on {c.server_label}" for c in calls)
            outputs = [MessageOutput(f"I did not run {names}: the call was not approved.")]
        return replace(plan, outputs=outputs)

    def _unavailable(self, tool: dict[str, Any] | None, output: McpCallOutput) -> str | None:
        if tool is None:
            return (
                f"the session's tools name no MCP server {output.server_label!r} "
                f"(MCP servers: {', '.join(self.listed) or 'none'})"
            )
        allowed = allowed_names(tool)
        if allowed is not None and output.name not in allowed:
            return (
                f"MCP server {output.server_label!r} does not allow tool {output.name!r} "
                f"(allowed_tools: {', '.join(allowed) or 'none'})"
            )
        return None


# ---- the events ---------------------------------------------------------------------------------


def stream_call(
    responses: Responses,
    run: ResponseRun,
    index: int,
    output: McpCallOutput,
    steps: Steps,
) -> Pauses:
    """An ``mcp_call`` item: its arguments, the tool running (as long as the response's
    latency before its first delta), its output or error."""
    open_item, close_item, pieces, stream_deltas = steps
    emit = responses.outbox.emit
    item: dict[str, Any] = {
        "id": responses.ids.new("item"),
        "type": "mcp_call",
        "status": "in_progress",
        "server_label": output.server_label,
        "name": output.name,
        "arguments": "",
        "approval_request_id": output.approval_request_id,
        "output": None,
        "error": None,
    }
    open_item(responses, run, index, item)
    run.current_kind = "mcp_call"
    where = {"response_id": run.id, "item_id": item["id"], "output_index": index}
    delta = "response.mcp_call_arguments.delta"
    yield from stream_deltas(
        responses, run, delta, where, pieces(output.arguments), item, "arguments"
    )
    emit({"type": "response.mcp_call_arguments.done", **where, "arguments": item["arguments"]})
    running = {"item_id": item["id"], "output_index": index}
    emit({"type": "response.mcp_call.in_progress", **running})
    pause = run.pacer.first_delta()
    if pause > 0:
        yield pause
    if output.error is not None:
        item["error"] = dict(output.error)
        emit({"type": "response.mcp_call.failed", **running})
    else:
        item["output"] = output.output or ""
        emit({"type": "response.mcp_call.completed", **running})
    close_item(responses, run, index, "completed")


def stream_approval_request(
    responses: Responses,
    run: ResponseRun,
    index: int,
    output: McpApprovalRequestOutput,
    steps: Steps,
) -> Pauses:
    """An ``mcp_approval_request`` item, whole: the model asks before it runs the call."""
    open_item, close_item, _, _ = steps
    item: dict[str, Any] = {
        "id": output.id,
        "type": "mcp_approval_request",
        "server_label": output.server_label,
        "name": output.name,
        "arguments": output.arguments,
    }
    open_item(responses, run, index, item)
    run.current_kind = "mcp_approval_request"
    close_item(responses, run, index, "completed")
    yield from ()
