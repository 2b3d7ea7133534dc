"""What the model says: response plans, and the canned responder used when nothing is scripted.

A :class:`ResponsePlan` describes one response in high-level terms (messages with text and
optional audio, function calls, a final status). The session expands a plan into the full
canonical event sequence of the connection's dialect; the scenario runner produces plans from
``respond:`` steps, and :class:`CannedResponder` produces them when no scenario says anything.

The canned responder behaves like an obliging model: it echoes the user's last words, and when
``tool_choice`` forces a tool (``required`` or a named function) it calls that tool with
arguments that satisfy its JSON Schema. With ``tool_choice: auto`` it calls a tool when the
user's last message names it, with arguments taken from their words where they fit
(:mod:`mock_server.canned_tools`). When the last item is the output of a function call it
answers in words instead, quoting it, so that a client's function-call round trip ends.
"""

from __future__ import annotations

import functools
import json
import math
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any, Literal, Protocol

import numpy as np

from mock_server import speech
from mock_server.protocol.errors import RealtimeError
from mock_server.protocol.formats import SAMPLE_RATE
from mock_server.protocol.items import text_of

# The canned model quotes at most this much of what it echoes (the user's words, a tool's
# output): its reply, and the placeholder speech made from it, stay small however long the
# input is.
MAX_QUOTED_CHARS = 400


def _quoted(text: str) -> str:
    if len(text) <= MAX_QUOTED_CHARS:
        return text
    return text[:MAX_QUOTED_CHARS].rstrip() + " [...]"


@dataclass
class MessageOutput:
    """An assistant message; ``audio`` is PCM16 24 kHz mono (made from the text when None)."""

    text: str
    audio: bytes | None = None
    # The wait before the first audio frame, in seconds (scaled by the pace); None: none.
    first_audio_after_s: float | None = None


@dataclass
class FunctionCallOutput:
    """A function call the model makes; ``arguments`` is the JSON string the client receives."""

    name: str
    arguments: str
    call_id: str | None = None


@dataclass
class McpCallOutput:
    """A tool the model runs on an MCP server (the service runs it: the client gets the
    result). ``error`` is the call's error object (``tool_execution_error``, ``http_error``,
    ``protocol_error``) when the call fails, else ``output`` is what the tool returned."""

    server_label: str
    name: str
    arguments: str
    output: str | None = None
    error: dict[str, Any] | None = None
    # Set by the session when an approval the client gave lets the call run.
    approval_request_id: str | None = None


@dataclass
class McpApprovalRequestOutput:
    """The model asks the client to approve an MCP call (``require_approval``); made by the
    session from an :class:`McpCallOutput`, under the id ``id`` the answer names."""

    id: str
    server_label: str
    name: str
    arguments: str


Output = MessageOutput | FunctionCallOutput | McpCallOutput | McpApprovalRequestOutput
Status = Literal["completed", "incomplete", "failed", "cancelled"]


@dataclass
class ResponsePlan:
    outputs: list[Output]
    status: Status = "completed"
    reason: str | None = None
    error: dict[str, Any] | None = None
    usage: dict[str, Any] | None = None
    # Fields of mock_server.timing.Timing this response changes (a scenario's respond timing).
    timing: dict[str, Any] | None = None


@dataclass
class ResponseRequest:
    """What the model is asked: the context and the effective settings of one response."""

    context: list[dict[str, Any]]
    tools: list[dict[str, Any]] = field(default_factory=list)
    tool_choice: Any = "auto"
    output_modalities: list[str] = field(default_factory=lambda: ["audio"])
    instructions: str = ""


class Responder(Protocol):
    def respond(self, request: ResponseRequest) -> ResponsePlan: ...


def forced_tool(tools: list[dict[str, Any]], tool_choice: Any) -> dict[str, Any] | None:
    """The function tool that ``tool_choice`` forces, if any."""
    functions = [t for t in tools if t.get("type", "function") == "function"]
    if isinstance(tool_choice, dict) and tool_choice.get("type") == "function":
        name = tool_choice.get("name")
        return next((t for t in functions if t.get("name") == name), None)
    if tool_choice == "required" and functions:
        return functions[0]
    if isinstance(tool_choice, str) and tool_choice not in ("auto", "none", "required"):
        # Beta names a forced function directly.
        return next((t for t in functions if t.get("name") == tool_choice), None)
    return None


class CannedResponder:
    """The default model: echoes, calls forced tools and the tools the user's words name.

    >>> plan = CannedResponder().respond(ResponseRequest(context=[
    ...     {"type": "message", "role": "user", "content": [{"type": "input_text", "text": "Hi"}]}
    ... ], output_modalities=["text"]))
    >>> plan.outputs[0].text
    'You said: "Hi".'
    """

    greeting = "Hello! This is realtime-mock, answering without a scenario."

    def respond(self, request: ResponseRequest) -> ResponsePlan:
        last = request.context[-1] if request.context else None
        tool = forced_tool(request.tools, request.tool_choice)
        said = text_of(last) if request.tools and last and last.get("role") == "user" else ""
        if tool is None and request.tool_choice == "auto" and said:
            # Unforced, a tool is called when the user's words name it (canned_tools.py).
            from mock_server.canned_tools import named_tool

            tool = named_tool(said, request.tools)
        if tool is not None and not (last and last.get("type") == "function_call_output"):
            return ResponsePlan([_call(tool, said)])
        if last is not None and last.get("type") == "function_call_output":
            output = str(last.get("output", ""))
            return ResponsePlan([MessageOutput(f"The tool returned: {_quoted(output)}")])
        user = next((i for i in reversed(request.context) if i.get("role") == "user"), None)
        if user is None:
            return ResponsePlan([MessageOutput(self.greeting)])
        said = text_of(user)
        if said:
            return ResponsePlan([MessageOutput(f'You said: "{_quoted(said)}".')])
        # Audio without a transcript: input transcription is off for this session.
        return ResponsePlan(
            [MessageOutput("I heard you (turn on input transcription to see what I heard).")]
        )


def _call(tool: dict[str, Any], said: str) -> FunctionCallOutput:
    """A call of ``tool`` with schema-valid arguments, taken from the user's words ``said``
    where they fit (canned_tools.py)."""
    from mock_server.protocol.schema_values import SchemaError, example_for_schema

    parameters = tool.get("parameters") or {"type": "object"}
    try:
        arguments = example_for_schema(parameters)
    except SchemaError as error:
        raise RealtimeError(
            f"Invalid schema for function '{tool.get('name')}': realtime-mock cannot "
            f"make arguments for its parameters: {error.message}.",
            "invalid_function_parameters",
        ) from error
    if said and isinstance(arguments, dict) and isinstance(parameters, dict):
        from mock_server.canned_tools import arguments_from_words

        arguments = arguments_from_words(said, parameters, arguments)
    return FunctionCallOutput(tool["name"], json.dumps(arguments))


# The tone fallback: one voiced burst per word, a word's burst as long as the word (up to
# this many characters), then a short gap.
_MAX_WORD_CHARS = 40
_GAP_S = 0.08


def _burst_samples(word_chars: int, rate: int) -> int:
    return int((0.12 + 0.045 * min(word_chars, _MAX_WORD_CHARS)) * rate)


@functools.lru_cache(maxsize=64)
def _burst(word_chars: int, index: int, rate: int) -> bytes:
    # A small cache of fixed-size pieces (at most 64 bursts of under 2 s), shared by every
    # session: common short replies reuse their bursts; nothing of a session's text is kept.
    duration = 0.12 + 0.045 * min(word_chars, _MAX_WORD_CHARS)
    t = np.arange(_burst_samples(word_chars, rate)) / rate
    pitch = 140.0 + 15.0 * math.sin(index)
    voice = sum(np.sin(2 * np.pi * pitch * k * t) / k for k in (1, 2, 3))
    envelope = np.sin(np.pi * t / duration) ** 0.5
    burst = (voice * envelope * 6000).astype(np.int16).astype("<i2").tobytes()
    return burst + bytes(2 * int(_GAP_S * rate))


def _tones(text: str, rate: int) -> tuple[int, Iterator[bytes]]:
    words = text.split() or ["..."]
    gap = int(_GAP_S * rate)
    length = sum(2 * (_burst_samples(len(w), rate) + gap) for w in words)
    return length, (_burst(len(word), index, rate) for index, word in enumerate(words))


def _spoken_phrases(phrases: list[str], first: bytes, voice: Any, rate: int) -> Iterator[bytes]:
    ahead: str | None = None
    try:
        for index, phrase in enumerate(phrases):
            if index + 1 < len(phrases):
                following = phrases[index + 1]  # made while this phrase streams
                ahead = following if speech.prefetch(following, voice) else None
            spoken = first if index == 0 else speech.synthesize(phrase, voice)
            if spoken is None:  # a phrase that would be spelled out: its words as tones
                yield from _tones(phrase, rate)[1]
            else:
                yield spoken
            ahead = None
    finally:
        if ahead is not None:
            speech.forget(ahead, voice)


def placeholder_speech_stream(
    text: str, rate: int = SAMPLE_RATE, voice: Any = None
) -> tuple[int, Iterator[bytes]]:
    """About how long :func:`placeholder_speech` of ``text`` is, in bytes, and its pieces, for
    a response to stream as it goes. Speech is made a phrase at a time, the next one in a
    thread while one streams (``speech.segments``); its length is estimated from the first
    phrase's. Tones are made a word at a time, and their length is exact.

    >>> length, pieces = placeholder_speech_stream("two words")
    >>> abs(length - len(b"".join(pieces))) <= 2 and len(placeholder_speech("two words")) > 0
    True
    """
    phrases = _speech_phrases(text) if rate == SAMPLE_RATE else []
    if not phrases:
        return _tones(text, rate)
    first = speech.synthesize(phrases[0], voice)
    if first is None:
        return _tones(text, rate)
    estimate = 2 * round(len(first) / 2 * len(text) / max(1, len(phrases[0])))
    return estimate, _spoken_phrases(phrases, first, voice, rate)


def _speech_phrases(text: str) -> list[str]:
    """The phrases ``text`` is spoken in, or none when it is too long to speak (tones)."""
    return speech.segments(text) if len(text) <= speech.MAX_SPEECH_CHARS else []


def speak_ahead(text: str, voice: Any = None) -> str | None:
    """Start making the first phrase of :func:`placeholder_speech_stream`'s speech of ``text``
    in a thread (``speech.prefetch``); that phrase, for ``speech.forget`` if it is not taken,
    or None when this call started nothing (tones, no eSpeak NG, made or being made already)."""
    phrases = _speech_phrases(text)
    return phrases[0] if phrases and speech.prefetch(phrases[0], voice) else None


def placeholder_speech(text: str, rate: int = SAMPLE_RATE, voice: Any = None) -> bytes:
    """Deterministic PCM16 for ``text``, used when a response must carry audio and nothing
    supplied any: ``text`` spoken by eSpeak NG in ``voice`` (:mod:`mock_server.speech`), or,
    without eSpeak NG (or for a text over ``speech.MAX_SPEECH_CHARS``), one voiced tone burst
    per word, which has the energy envelope of speech (a client's VAD or level meter reacts)
    but says nothing.

    >>> placeholder_speech("two words") == placeholder_speech("two words")
    True
    """
    return b"".join(placeholder_speech_stream(text, rate, voice)[1])
