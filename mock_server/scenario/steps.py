"""The scenario format's steps: what the model says, what the client is expected to send, the
faults, the groups, and the rules that fire at any time.

A step is one of its kinds (``expect``, ``respond``, ``send``, a fault, ``wait``, a group);
:func:`unrolled_size` counts what a list of steps unrolls to, safely on any structure.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import (
    BeforeValidator,
    Field,
    WithJsonSchema,
    field_validator,
    model_validator,
)

from mock_server.protocol.events import CLIENT_EVENT_TYPES, SERVER_EVENT_TYPES
from mock_server.scenario.bounds import (
    CLOSE_CODE_SCHEMA,
    DURATION_SCHEMA,
    MAX_CLOSE_REASON_BYTES,
    MAX_REPEAT_TIMES,
    MAX_UNROLLED_STEPS,
    RESERVED_CLOSE_CODES,
    Duration,
    Strict,
    bound_error,
    sendable_close_code,
)
from mock_server.scenario.calls import FunctionCall, McpCall
from mock_server.scenario.timing import TimingField

# ---- what the model says --------------------------------------------------------------------


class OutputItem(Strict):
    """One item of a response: a message (text, audio), a function call or an MCP call."""

    text: str | None = None
    audio: str | None = Field(
        None, description="A WAV fixture: a path next to the scenario, or fixture:audio/x.wav."
    )
    transcript: str | None = Field(None, description="What the audio says (default: text).")
    first_audio_after: Duration | None = Field(
        None,
        description="With audio: the wait between the item's content part and its first audio "
        "frame (scaled by the pace), the window in which a barge-in finds no audio to truncate.",
    )
    function_call: FunctionCall | None = None
    mcp_call: McpCall | None = Field(None, description="A tool the model runs on an MCP server.")

    @model_validator(mode="after")
    def _one_kind(self) -> OutputItem:
        calls = (self.function_call is not None) + (self.mcp_call is not None)
        if (calls and (self.text or self.audio)) or calls > 1:
            raise ValueError("an item is one of a message (text/audio), function_call, mcp_call")
        if not calls and self.text is None and self.audio is None:
            raise ValueError("an item needs text, audio, a function_call or an mcp_call")
        return self


class Respond(OutputItem):
    """The model's next response, in high-level terms."""

    function_calls: list[FunctionCall] | None = Field(
        None, description="Several function calls in one response (parallel calls)."
    )
    items: list[OutputItem] | None = Field(None, description="Several output items, in order.")
    status: Literal["completed", "incomplete", "failed", "cancelled"] = "completed"
    reason: str | None = Field(None, description="status_details.reason, e.g. max_output_tokens.")
    error: dict[str, Any] | None = Field(None, description="status_details.error when failed.")
    usage: dict[str, Any] | None = None
    timing: TimingField | None = Field(None, description="This response's own timing.")
    recorded: TimingField | None = Field(
        None, description="Its timing as recorded (realtime-mock record): for pace: recorded."
    )

    @model_validator(mode="after")
    def _one_kind(self) -> Respond:
        kinds = [
            self.text is not None or self.audio is not None,
            self.function_call is not None,
            bool(self.function_calls),
            bool(self.items),
            self.mcp_call is not None,
        ]
        if sum(kinds) > 1 and not (kinds[0] and sum(kinds) == 2 and (kinds[1] or kinds[4])):
            raise ValueError(
                "use one of text/audio, function_call, function_calls, mcp_call or items "
                "(text/audio goes with one function_call or mcp_call)"
            )
        if not any(kinds) and self.status == "completed":
            raise ValueError("a response needs text, audio, function_call(s), mcp_call or items")
        return self


# ---- steps ----------------------------------------------------------------------------------


class EventMatch(Strict):
    """A client event by its type and a partial match of its fields."""

    type: str
    match: dict[str, Any] = Field(
        default_factory=dict,
        description="Fields to match: exact values, {regex: ...}, any, absent, "
        "{gte/gt/lte/lt: n}, {contains: x}.",
    )
    within: Duration | None = Field(None, description="Fail if it has not come by then.")
    capture: dict[str, str] = Field(
        default_factory=dict, description="name: dotted.path of the event, for later steps."
    )


class Expect(EventMatch):
    """The next relevant client event: its type and a partial match of its fields."""

    audio: str | None = Field(
        None,
        description="With type input_audio_buffer.append: the client streams this WAV fixture "
        "(any number of appends, until as much audio as the fixture holds has come). Recorded "
        "sessions keep the user's speech this way, so that a replay's VAD hears the same turns.",
    )
    instead: bool = Field(
        False,
        description="The emulator does not handle the event itself: the steps that follow "
        "answer it (a recorded refusal or an unusual response).",
    )

    @model_validator(mode="after")
    def _audio_of_appends(self) -> Expect:
        if self.audio is not None and self.type != "input_audio_buffer.append":
            raise ValueError("audio: is for expect input_audio_buffer.append (the client's speech)")
        return self


_MATCH_KEYS = frozenset({"type", "match", "within", "capture"})
_EXPECT_KEYS = _MATCH_KEYS | {"audio", "instead"}
_WHEN_KEYS = _MATCH_KEYS | {"after", "count"}


def _fold_inline(value: Any, known: frozenset[str]) -> Any:
    """``TYPE`` -> ``{type: TYPE}``; fields beside the known keys go under ``match``."""
    if isinstance(value, str):
        return {"type": value}
    if isinstance(value, dict):
        inline = {k: v for k, v in value.items() if k not in known}
        if inline:
            out = {k: v for k, v in value.items() if k in known}
            out["match"] = {**value.get("match", {}), **inline}
            return out
    return value


def _expect_shorthand(value: Any) -> Any:
    """``expect: response.create`` or ``expect: {type: ..., item: {...}}`` (fields inline)."""
    return _fold_inline(value, _EXPECT_KEYS)


# The event types of either dialect: a scenario's dialect narrows them (lint checks that).
CLIENT_TYPES_SCHEMA: dict[str, Any] = {
    "type": "string",
    "enum": sorted(set().union(*CLIENT_EVENT_TYPES.values())),
    "description": "A client event type, e.g. response.create.",
}
SERVER_TYPES_SCHEMA: dict[str, Any] = {
    "type": "string",
    "enum": sorted(set().union(*SERVER_EVENT_TYPES.values())),
    "description": "A server event type (GA names are renamed for beta connections).",
}
_SEND_SCHEMA: dict[str, Any] = {
    "type": "object",
    "required": ["type"],
    "properties": {"type": SERVER_TYPES_SCHEMA},
    "additionalProperties": True,
    "description": "A raw server event, templated.",
}
_EXPECT_SCHEMA: dict[str, Any] = {
    "anyOf": [
        CLIENT_TYPES_SCHEMA,
        {
            "type": "object",
            "required": ["type"],
            "properties": {
                "type": CLIENT_TYPES_SCHEMA,
                "match": {"type": "object"},
                "within": DURATION_SCHEMA,
                "capture": {"type": "object", "additionalProperties": {"type": "string"}},
                "audio": {"type": "string"},
                "instead": {"type": "boolean"},
                "after": {"type": "integer", "minimum": 0},
                "count": {"type": "integer", "minimum": 1},
            },
            "additionalProperties": True,
            "description": "type, and fields of the event to match (inline or under match).",
        },
    ]
}
ExpectSpec = Annotated[Expect, BeforeValidator(_expect_shorthand), WithJsonSchema(_EXPECT_SCHEMA)]


class ErrorFault(Strict):
    type: str = "invalid_request_error"
    code: str | None = None
    message: str = "An error occurred."
    param: str | None = None
    event_id: str | None = None


class CloseFault(Strict):
    code: Annotated[int, WithJsonSchema(CLOSE_CODE_SCHEMA)] = 1000
    reason: str = Field(
        "",
        description=f"At most {MAX_CLOSE_REASON_BYTES} bytes in UTF-8.",
        json_schema_extra={"maxLength": MAX_CLOSE_REASON_BYTES},
    )

    @field_validator("code")
    @classmethod
    def _sendable(cls, code: int) -> int:
        if sendable_close_code(code):
            return code
        why = RESERVED_CLOSE_CODES.get(code) or (
            "codes end at 4999" if code > 4999 else f"{code} is not a code a close frame carries"
        )
        raise bound_error(
            f"close code {code} cannot be sent",
            f"{why}; use 1000-1003, 1007-1014, or 3000-4999 (4000-4999 for applications)",
        )

    @field_validator("reason")
    @classmethod
    def _fits_the_frame(cls, reason: str) -> str:
        try:
            size = len(reason.encode("utf-8"))
        except UnicodeEncodeError:
            raise bound_error(
                "a close reason must be UTF-8 text",
                "it holds a lone surrogate (an escape such as \\ud800)",
            ) from None
        if size > MAX_CLOSE_REASON_BYTES:
            raise bound_error(
                f"close reason is {size} bytes in UTF-8, more than {MAX_CLOSE_REASON_BYTES}",
                "a close frame holds at most 123 bytes of reason: shorten it",
            )
        return reason


class WaitUntil(Strict):
    until: Annotated[str, WithJsonSchema(CLIENT_TYPES_SCHEMA)] = Field(
        description="A client event type."
    )
    within: Duration | None = None


class Repeat(Strict):
    times: int = Field(
        ge=1,
        description=f"At most {MAX_REPEAT_TIMES:,}; a connection's steps unroll to at most "
        f"{MAX_UNROLLED_STEPS:,} steps in all.",
        json_schema_extra={"maximum": MAX_REPEAT_TIMES},
    )
    steps: list[Step]

    @field_validator("times")
    @classmethod
    def _bounded(cls, times: int) -> int:
        if times > MAX_REPEAT_TIMES:
            raise bound_error(
                f"repeat.times is {times}, more than {MAX_REPEAT_TIMES:,}",
                f"a connection's steps unroll to at most {MAX_UNROLLED_STEPS:,} steps: "
                "loop in the client, or split the scenario",
            )
        return times


class Step(Strict):
    """One step; exactly one of its fields is set."""

    expect: ExpectSpec | None = None
    respond: Respond | None = None
    send: Annotated[dict[str, Any], WithJsonSchema(_SEND_SCHEMA)] | None = Field(
        None, description="A raw server event, templated."
    )
    error: ErrorFault | None = None
    close: CloseFault | None = None
    drop: bool | None = Field(None, description="Cut the TCP connection, no close frame.")
    stall: Duration | None = Field(None, description="Send nothing for this long.")
    garbage: str | bool | None = Field(None, description="A non-JSON frame (text, or default).")
    expire: bool | None = Field(None, description="The session's maximum duration is reached.")
    wait: Duration | WaitUntil | None = None
    any_order: list[Step] | None = None
    repeat: Repeat | None = None
    optional: list[Step] | None = None

    @model_validator(mode="before")
    @classmethod
    def _exactly_one(cls, value: Any) -> Any:
        if isinstance(value, dict):
            given = [k for k in value if k in cls.model_fields]
            if len(given) > 1:
                raise ValueError(f"a step does one thing; this one has {', '.join(given)}")
        return value

    @field_validator("send")
    @classmethod
    def _send_has_a_type(cls, send: dict[str, Any] | None) -> dict[str, Any] | None:
        if send is not None and not isinstance(send.get("type"), str):
            raise bound_error(
                "a send needs a type: the server event's type, as a string",
                "e.g. send: {type: response.done, response: {...}}",
            )
        return send

    @property
    def kind(self) -> str:
        for name in type(self).model_fields:
            if getattr(self, name) is not None:
                return name
        return "empty"


class When(EventMatch):
    """A rule's trigger: an expect-style match, and which occurrences count."""

    after: int = Field(0, description="Only occurrences after the first N.")
    count: int | None = Field(None, description="At most this many times.")


def _when_shorthand(value: Any) -> Any:
    return _fold_inline(value, _WHEN_KEYS)


class Rule(Strict):
    """Whenever the client sends what ``when`` says, do the steps in ``do``."""

    when: Annotated[When, BeforeValidator(_when_shorthand), WithJsonSchema(_EXPECT_SCHEMA)]
    do: list[Step]
    instead: bool = Field(
        True, description="The rule replaces the emulator's own handling of the event."
    )


def _inner_steps(step: Step) -> list[Step] | None:
    if step.repeat is not None:
        return step.repeat.steps
    return step.optional if step.optional is not None else step.any_order


def unrolled_size(steps: list[Step]) -> int:
    """How many steps ``steps`` unroll to (a repeat counts its steps ``times`` over; a group
    counts one besides its steps), saturating just above :data:`MAX_UNROLLED_STEPS`.

    Iterative, and safe on any structure built in Python (deep nesting, a list inside itself).

    >>> unrolled_size([Step(repeat=Repeat(times=3, steps=[Step(drop=True)]))])
    4
    """
    cap = MAX_UNROLLED_STEPS + 1
    sizes: dict[int, int] = {}
    pending: set[int] = set()
    stack: list[tuple[list[Step], bool]] = [(steps, False)]
    while stack:
        group, ready = stack.pop()
        if not ready:
            if id(group) in sizes:
                continue
            pending.add(id(group))
            stack.append((group, True))
            for step in group:
                inner = _inner_steps(step)
                if inner is not None and id(inner) in pending:
                    return cap  # a list that contains itself unrolls for ever
                if inner is not None and id(inner) not in sizes:
                    stack.append((inner, False))
            continue
        total = 0
        for step in group:
            total += 1
            inner = _inner_steps(step)
            if inner is not None:
                times = max(step.repeat.times, 0) if step.repeat is not None else 1
                total += times * sizes.get(id(inner), cap)
            if total >= cap:
                total = cap
                break
        sizes[id(group)] = total
        pending.discard(id(group))
    return sizes[id(steps)]


PASSTHROUGH_ACTIONS = frozenset({"error", "send", "close", "drop", "stall", "garbage", "expire"})

Repeat.model_rebuild()
Step.model_rebuild()
