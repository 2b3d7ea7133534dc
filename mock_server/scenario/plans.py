"""What a ``respond`` step makes the session say: its response plan, templates rendered.

The text, a function call's arguments and ids are rendered with the captures made so far (at
the moment the response starts, not when the scenario was read); audio comes from fixtures,
each read once per connection.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Callable
from typing import Any

from mock_server import audio
from mock_server.protocol.errors import RealtimeError
from mock_server.responder import (
    FunctionCallOutput,
    McpCallOutput,
    MessageOutput,
    Output,
    ResponsePlan,
)
from mock_server.scenario.loader import LoadedScenario
from mock_server.scenario.model import FunctionCall, McpCall, OutputItem, Respond, Scenario
from mock_server.scenario.templating import TemplateError, render
from mock_server.session.transcription import SpeakerTurns, Transcribed
from mock_server.timing import STEADY


class ResponsePlans:
    """One connection's plans, and the transcriptions the scenario gives its committed turns:
    ``captures`` is the runner's own (it fills it as events match), ``new_id`` the session's id
    maker. Raises :class:`TemplateError` for a bad placeholder."""

    def __init__(
        self, loaded: LoadedScenario, captures: dict[str, Any], new_id: Callable[[str], str]
    ) -> None:
        self.loaded = loaded
        self.captures = captures
        self.new_id = new_id
        self._audio: dict[str, bytes] = {}
        self._transcriptions = 0

    def next_transcription(self) -> Transcribed | RealtimeError | None:
        """The scenario's transcription of the next committed turn, if it gives one: its text,
        its speakers' segments, or its failure."""
        given_all = self.loaded.scenario.transcriptions
        if self._transcriptions >= len(given_all):
            return None
        given = given_all[self._transcriptions]
        self._transcriptions += 1
        if given.error is not None:
            fault = given.error
            return RealtimeError(fault.message, fault.code, fault.param, fault.type)
        if given.segments is not None:
            return SpeakerTurns(tuple((s.speaker, s.text) for s in given.segments))
        return given.text

    def pcm(self, reference: str) -> bytes:
        """The PCM16 of fixture ``reference`` (read once)."""
        if reference not in self._audio:
            path = self.loaded.fixture(reference)
            self._audio[reference] = audio.load_wav(path).tobytes()
        return self._audio[reference]

    def plan(self, respond: Respond) -> ResponsePlan:
        outputs: list[Output] = []
        if respond.items:
            outputs = [self._item(i) for i in respond.items]
        elif respond.function_calls:
            outputs = [self._call(c) for c in respond.function_calls]
        else:
            if respond.text is not None or respond.audio is not None:
                outputs.append(
                    self._item(
                        OutputItem(
                            text=respond.text,
                            audio=respond.audio,
                            transcript=respond.transcript,
                            first_audio_after=respond.first_audio_after,
                        )
                    )
                )
            if respond.function_call is not None:
                outputs.append(self._call(respond.function_call))
            if respond.mcp_call is not None:
                # The tool runs first; the model's words about its result follow.
                outputs.insert(0, self._mcp_call(respond.mcp_call))
        timing = respond.timing.fields() if respond.timing is not None else None
        if respond.recorded is not None and self.loaded.scenario.pace == "recorded":
            # As recorded: steady (no jitter), the recording's fields, then any edit of them.
            timing = {**dataclasses.asdict(STEADY), **respond.recorded.fields(), **(timing or {})}
        return ResponsePlan(
            outputs, respond.status, respond.reason, respond.error, respond.usage, timing
        )

    def _call(self, call: FunctionCall) -> FunctionCallOutput:
        arguments = (
            call.arguments if isinstance(call.arguments, str) else json.dumps(call.arguments)
        )
        rendered = render(arguments, self.captures, self.new_id)
        return FunctionCallOutput(call.name, str(rendered), call.call_id)

    def _mcp_call(self, call: McpCall) -> McpCallOutput:
        arguments = (
            call.arguments if isinstance(call.arguments, str) else json.dumps(call.arguments)
        )
        output = None if call.output is None else render(call.output, self.captures, self.new_id)
        return McpCallOutput(
            call.server_label,
            call.name,
            str(render(arguments, self.captures, self.new_id)),
            None if output is None else str(output),
            call.item_error(),
        )

    def _item(self, item: OutputItem) -> Output:
        if item.function_call is not None:
            return self._call(item.function_call)
        if item.mcp_call is not None:
            return self._mcp_call(item.mcp_call)
        text = item.transcript or item.text or ""
        return MessageOutput(
            str(render(text, self.captures, self.new_id)),
            self.pcm(item.audio) if item.audio else None,
            first_audio_after_s=item.first_audio_after,
        )


def mcp_tools(scenario: Scenario) -> dict[str, list[dict[str, Any]]]:
    """The MCP tools a scenario's calls name, by ``server_label``, as a server's tool list
    holds them: the input schema is made from the tool's first call's arguments.

    >>> from mock_server.scenario.builder import scenario_from_dict
    >>> call = {"server_label": "docs", "name": "search", "arguments": {"q": "x"}, "output": ""}
    >>> scenario = scenario_from_dict({"steps": [{"respond": {"mcp_call": call}}]})
    >>> (tool,) = mcp_tools(scenario)["docs"]
    >>> tool["name"], tool["input_schema"]["properties"]
    ('search', {'q': {'type': 'string'}})
    """
    found: dict[str, list[dict[str, Any]]] = {}
    lists = [scenario.steps, *(c.steps or [] for c in scenario.connections or [])]
    lists += [rule.do for rule in scenario.rules]
    while lists:
        for step in lists.pop():
            lists += [s for s in (step.any_order, step.optional) if s]
            if step.repeat is not None:
                lists.append(step.repeat.steps)
            respond = step.respond
            if respond is None:
                continue
            for call in [respond.mcp_call, *(i.mcp_call for i in respond.items or [])]:
                tools = found.setdefault(call.server_label, []) if call else []
                if call and all(t["name"] != call.name for t in tools):
                    tools.append({"name": call.name, "input_schema": _schema_of(call.arguments)})
    return found


def _schema_of(arguments: dict[str, Any] | str) -> dict[str, Any]:
    if isinstance(arguments, str):
        try:
            arguments = json.loads(arguments)
        except ValueError:
            return {"type": "object"}
    if not isinstance(arguments, dict):
        return {"type": "object"}
    names = {bool: "boolean", int: "integer", float: "number", str: "string", list: "array"}
    properties = {k: {"type": names.get(type(v), "object")} for k, v in arguments.items()}
    return {"type": "object", "properties": properties}


def failed_plan(error: TemplateError) -> ResponsePlan:
    """A respond whose template is bad: a failed response, as the live service sends when it
    cannot answer (the problem goes in the verdict, not to the client as its mistake)."""
    return ResponsePlan(
        [],
        "failed",
        error={
            "type": "server_error",
            "code": None,
            "message": f"realtime-mock: the scenario's response has a bad template: {error}",
        },
    )


__all__ = ["ResponsePlans", "failed_plan", "mcp_tools"]
