"""What a ``respond`` step makes the session say: its response plan, templates rendered.

The text, a function call's arguments and ids are rendered with the captures made so far (at
the moment the response starts, not when the scenario was read); audio comes from fixtures,
each read once per connection.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from mock_server import audio
from mock_server.protocol.errors import RealtimeError
from mock_server.responder import FunctionCallOutput, MessageOutput, ResponsePlan
from mock_server.scenario.loader import LoadedScenario
from mock_server.scenario.model import FunctionCall, OutputItem, Respond
from mock_server.scenario.templating import TemplateError, render
from mock_server.session.transcription import SpeakerTurns, Transcribed


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
        outputs: list[MessageOutput | FunctionCallOutput] = []
        if respond.items:
            outputs = [self._item(i) for i in respond.items]
        elif respond.function_calls:
            outputs = [self._call(c) for c in respond.function_calls]
        else:
            if respond.text is not None or respond.audio is not None:
                outputs.append(
                    self._item(
                        OutputItem(
                            text=respond.text, audio=respond.audio, transcript=respond.transcript
                        )
                    )
                )
            if respond.function_call is not None:
                outputs.append(self._call(respond.function_call))
        return ResponsePlan(outputs, respond.status, respond.reason, respond.error, respond.usage)

    def _call(self, call: FunctionCall) -> FunctionCallOutput:
        arguments = (
            call.arguments if isinstance(call.arguments, str) else json.dumps(call.arguments)
        )
        rendered = render(arguments, self.captures, self.new_id)
        return FunctionCallOutput(call.name, str(rendered), call.call_id)

    def _item(self, item: OutputItem) -> MessageOutput | FunctionCallOutput:
        if item.function_call is not None:
            return self._call(item.function_call)
        text = item.transcript or item.text or ""
        return MessageOutput(
            str(render(text, self.captures, self.new_id)),
            self.pcm(item.audio) if item.audio else None,
        )


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


__all__ = ["ResponsePlans", "failed_plan"]
