"""The scenario format: what the model says, which tools it calls, which faults happen.

A scenario scripts the content; the session emulates the protocol. Every model forbids unknown
fields, so a typo is an error with its line (see :mod:`mock_server.scenario.loader`). The JSON
Schema of the format (``realtime-mock schema``) is made from these models; their descriptions
are what an editor shows.
"""

from __future__ import annotations

from http import HTTPStatus
from typing import Annotated, Any, Literal

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    WithJsonSchema,
    field_validator,
    model_validator,
)
from pydantic_core import PydanticCustomError

from mock_server.protocol.events import CLIENT_EVENT_TYPES, SERVER_EVENT_TYPES
from mock_server.protocol.limits import MAX_SESSION_DURATION_S
from mock_server.scenario.tags import CAPABILITY_TAGS
from mock_server.units import DURATION_PATTERN, parse_duration

_DURATION_SCHEMA: dict[str, Any] = {
    "anyOf": [
        {"type": "number", "minimum": 0, "description": "seconds"},
        {"type": "string", "pattern": DURATION_PATTERN},
    ],
    "description": "A duration: seconds, or a string such as 500ms, 2s, 60m.",
}
Duration = Annotated[float, BeforeValidator(parse_duration), WithJsonSchema(_DURATION_SCHEMA)]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


# ---- bounds (docs/scenarios.md, "Checks and bounds") ---------------------------------------------

MAX_REPEAT_TIMES = 10_000
# Steps one connection's script may unroll to: each step counts one, a repeat counts its steps
# ``times`` over. The runner unrolls a connection's steps when it starts (the server's event loop).
MAX_UNROLLED_STEPS = 10_000
MAX_CLOSE_REASON_BYTES = 123  # a close frame's payload is at most 125 bytes, 2 of them the code
REFUSAL_STATUSES = tuple(s.value for s in HTTPStatus if 400 <= s.value < 600)
_NOT_STATUSES = {
    499: "499 is nginx's log entry for a client that hung up, never sent to a client",
    599: "599 is what some proxies log for a network timeout, never sent to a client: use 504",
}
_RESERVED_CLOSE_CODES = {
    1004: "1004 is reserved",
    1005: "1005 (no status) is what a client reports when a close frame has no code",
    1006: "1006 (abnormal closure) is what a client reports when the connection is cut: "
    "use drop: true for that",
    1015: "1015 (TLS handshake failure) is never sent in a close frame",
}


def bound_error(message: str, hint: str) -> PydanticCustomError:
    """A value outside the format's bounds; the loader shows ``hint`` after the line."""
    # The message is a template of the context's names: a "{hint}" in it would be replaced.
    return PydanticCustomError("scenario_bound", message, {"hint": hint})


def sendable_close_code(code: int) -> bool:
    """Whether a close frame may carry ``code`` (RFC 6455 section 7.4; websockets agrees).

    >>> [c for c in (1000, 1005, 1011, 2000, 3000, 4999, 5000) if sendable_close_code(c)]
    [1000, 1011, 3000, 4999]
    """
    return 1000 <= code <= 1003 or 1007 <= code <= 1014 or 3000 <= code <= 4999


_CLOSE_CODE_SCHEMA: dict[str, Any] = {
    "anyOf": [
        {"type": "integer", "minimum": 1000, "maximum": 1003},
        {"type": "integer", "minimum": 1007, "maximum": 1014},
        {"type": "integer", "minimum": 3000, "maximum": 4999},
    ],
    "description": "A code a close frame may carry: 1000-1003, 1007-1014, 3000-4999.",
}


# ---- the handshake --------------------------------------------------------------------------


class Handshake(_Strict):
    """How the mock answers a connection attempt before any event."""

    status: int | None = Field(
        None,
        description="Refuse with this HTTP status (401, 403, 404, 429, 500, 503...).",
        json_schema_extra={"enum": [*REFUSAL_STATUSES, None]},
    )
    message: str | None = Field(None, description="The error message of the refusal's body.")
    code: str | None = Field(None, description="The error code of the refusal's body.")
    type: str | None = Field(None, description="The error type (default by status).")
    retry_after: float | None = Field(None, description="Seconds for the retry-after header.")
    require_key: str | list[str] | None = Field(
        None, description="Accept only this key (or these keys); others get 401."
    )
    delay: Duration = Field(0.0, description="Wait this long before answering the handshake.")

    @field_validator("status")
    @classmethod
    def _a_real_refusal(cls, status: int | None) -> int | None:
        if status is None or status in REFUSAL_STATUSES:
            return status
        why = _NOT_STATUSES.get(status, "")
        known = "a refusal is an HTTP error status of http.HTTPStatus: 400-451 or 500-511"
        raise bound_error(
            f"handshake status {status} is not an HTTP error status",
            f"{why}; {known}" if why else f"{known}, e.g. 401, 403, 404, 429, 500, 503",
        )


class Connection(Handshake):
    """One connection attempt's handshake, and optionally its own steps."""

    steps: list[Step] | None = Field(
        None, description="Steps for this connection (default: the scenario's steps)."
    )


# ---- what the model says --------------------------------------------------------------------


class FunctionCall(_Strict):
    name: str
    arguments: dict[str, Any] | str = Field(
        default_factory=dict, description="The arguments (an object, or the JSON string)."
    )
    call_id: str | None = Field(None, description="Fix the call_id (default: generated).")


class OutputItem(_Strict):
    """One item of a response: a message (text, audio) or a function call."""

    text: str | None = None
    audio: str | None = Field(
        None, description="A WAV fixture: a path next to the scenario, or fixture:audio/x.wav."
    )
    transcript: str | None = Field(None, description="What the audio says (default: text).")
    function_call: FunctionCall | None = None

    @model_validator(mode="after")
    def _one_kind(self) -> OutputItem:
        if self.function_call is not None and (self.text or self.audio):
            raise ValueError("an item is either a message (text/audio) or a function_call")
        if self.function_call is None and self.text is None and self.audio is None:
            raise ValueError("an item needs text, audio or a function_call")
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

    @model_validator(mode="after")
    def _one_kind(self) -> Respond:
        kinds = [
            self.text is not None or self.audio is not None,
            self.function_call is not None,
            bool(self.function_calls),
            bool(self.items),
        ]
        if sum(kinds) > 1 and not (kinds[0] and kinds[1]):
            raise ValueError("use one of text/audio, function_call, function_calls or items")
        if not any(kinds) and self.status == "completed":
            raise ValueError("a response needs text, audio, function_call(s) or items")
        return self


# ---- steps ----------------------------------------------------------------------------------


class EventMatch(_Strict):
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
                "within": _DURATION_SCHEMA,
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


class ErrorFault(_Strict):
    type: str = "invalid_request_error"
    code: str | None = None
    message: str = "An error occurred."
    param: str | None = None
    event_id: str | None = None


class CloseFault(_Strict):
    code: Annotated[int, WithJsonSchema(_CLOSE_CODE_SCHEMA)] = 1000
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
        why = _RESERVED_CLOSE_CODES.get(code) or (
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


class WaitUntil(_Strict):
    until: Annotated[str, WithJsonSchema(CLIENT_TYPES_SCHEMA)] = Field(
        description="A client event type."
    )
    within: Duration | None = None


class Repeat(_Strict):
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


class Step(_Strict):
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


class Rule(_Strict):
    """Whenever the client sends what ``when`` says, do the steps in ``do``."""

    when: Annotated[When, BeforeValidator(_when_shorthand), WithJsonSchema(_EXPECT_SCHEMA)]
    do: list[Step]
    instead: bool = Field(
        True, description="The rule replaces the emulator's own handling of the event."
    )


class Transcription(_Strict):
    """What input transcription reports for one committed user turn."""

    text: str | None = Field(None, description="The transcript (completed).")
    error: ErrorFault | None = Field(None, description="Report a failure instead (failed).")

    @model_validator(mode="after")
    def _one(self) -> Transcription:
        if (self.text is None) == (self.error is None):
            raise ValueError("a transcription has either text or error")
        return self


class ClientOutcome(_Strict):
    """How a correct client's process ends (what ``realtime-mock run`` checks)."""

    exit: Literal["zero", "nonzero", "any"] = Field(
        "zero",
        description="zero: a correct client exits 0; nonzero: it reports a failure and exits "
        "non-zero (a refused key, an unknown model); any: either is right.",
    )


class Scenario(_Strict):
    """A scenario file."""

    name: str
    description: str = Field(description="What happens, and what a correct client does.")
    tags: list[str] = Field(
        default_factory=list,
        description="Selected by realtime-mock run --tag / --exclude-tag. The library's "
        "capability tags: " + ", ".join(CAPABILITY_TAGS) + ".",
    )
    client: ClientOutcome = Field(
        default_factory=lambda: ClientOutcome(),
        description="How a correct client's process ends under realtime-mock run.",
    )
    dialect: Literal["ga", "beta", "any"] = "any"
    pace: str = Field("fast", description="realtime, fast, or xN such as x10.")
    unexpected: Literal["ignore", "record", "fail"] = "ignore"
    seed: int | str | None = None
    max_duration: Duration | None = Field(
        float(MAX_SESSION_DURATION_S),
        description="The session's maximum duration (error session_expired, close 1001).",
    )
    close_idle_after: Duration | None = Field(
        None,
        description="Close the connection (1001) after this long without a client event while "
        "no response streams. The live service keeps idle sessions open until max_duration; "
        "gateways and proxies often do not.",
    )
    timeout: Duration | None = Field(
        None,
        description="The bound, in real (wall-clock) seconds, on every expectation without its "
        "own within: an expect, a wait until, any_order, and a respond waiting for the client to "
        "ask (plus the audio the client streams meanwhile). Default 10 s (the pytest plugin: "
        "realtime_mock_timeout). When it passes, the verdict fails and the connection is closed "
        "(1011), so that no client waits forever.",
    )
    time_scale: float = Field(
        1.0,
        gt=0,
        description="Virtual seconds per real second: 3600 makes a 60-minute limit or a long "
        "wait pass in a second of real time.",
    )
    session: dict[str, Any] = Field(
        default_factory=dict, description="GA-shaped defaults that session.created reports."
    )
    handshake: Handshake = Field(default_factory=lambda: Handshake())
    attempts: int | None = Field(
        None, description="How many connection attempts a correct client makes (refused ones too)."
    )
    connections: list[Connection] | None = Field(
        None, description="Per-attempt handshakes (and steps); the last one repeats."
    )
    transcriptions: list[Transcription] = Field(
        default_factory=list,
        description="Input transcription of the user's committed turns, in order (when the "
        "session enables it); afterwards the fixtures are recognised by fingerprint.",
    )
    steps: list[Step] = Field(default_factory=list)
    rules: list[Rule] = Field(default_factory=list)
    passthrough: bool = Field(
        False,
        description="Served through a pass-through to a live endpoint (realtime-mock record "
        "--upstream): the client's events the rules do not handle go to the live model, "
        "which answers the rest.",
    )

    @model_validator(mode="after")
    def _passthrough_scripts_faults_only(self) -> Scenario:
        if not self.passthrough:
            return self
        if self.steps or any(c.steps for c in self.connections or []):
            raise ValueError(
                "a passthrough scenario has no steps: the live model answers; script its faults "
                "with rules (and handshake / connections)"
            )
        for rule in self.rules:
            for step in rule.do:
                if step.kind not in PASSTHROUGH_ACTIONS:
                    raise ValueError(
                        f"a passthrough rule cannot {step.kind}: use "
                        f"{', '.join(sorted(PASSTHROUGH_ACTIONS))}"
                    )
        return self


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

Connection.model_rebuild()
Repeat.model_rebuild()
Step.model_rebuild()
