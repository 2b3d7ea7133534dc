"""The scenario format: what the model says, which tools it calls, which faults happen.

A scenario scripts the content; the session emulates the protocol. Every model forbids unknown
fields, so a typo is an error with its line (see :mod:`mock_server.scenario.loader`). The JSON
Schema of the format (``realtime-mock schema``) is made from these models; their descriptions
are what an editor shows.

This module is the root (:class:`Scenario`, the handshake and per-connection attempts,
transcriptions, the client's outcome); the steps and rules are in
:mod:`~mock_server.scenario.steps`, the base and bounds in :mod:`~mock_server.scenario.bounds`.
Every name of the format is importable from here.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BeforeValidator, Field, WithJsonSchema, field_validator, model_validator

from mock_server.protocol.events import Dialect
from mock_server.protocol.limits import MAX_SESSION_DURATION_S
from mock_server.scenario.bounds import (
    CLOSE_CODE_SCHEMA,
    MAX_CLOSE_REASON_BYTES,
    MAX_REPEAT_TIMES,
    MAX_UNROLLED_STEPS,
    NOT_STATUSES,
    REFUSAL_STATUSES,
    Duration,
    Strict,
    bound_error,
    sendable_close_code,
)
from mock_server.scenario.calls import FunctionCall, McpCall, McpToolError
from mock_server.scenario.steps import (
    PASSTHROUGH_ACTIONS,
    CloseFault,
    ErrorFault,
    EventMatch,
    Expect,
    OutputItem,
    Repeat,
    Respond,
    Rule,
    Step,
    WaitUntil,
    When,
    unrolled_size,
)
from mock_server.scenario.tags import CAPABILITY_TAGS
from mock_server.scenario.timing import TimingField, TimingSpec

# ---- the handshake --------------------------------------------------------------------------


class Handshake(Strict):
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
        why = NOT_STATUSES.get(status, "")
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


class SpeakerSegment(Strict):
    """One speaker's words in a diarised transcription."""

    speaker: str = Field(description="The speaker's label (the live service uses A, B, ...).")
    text: str = Field(description="What they said.")


class Transcription(Strict):
    """What input transcription reports for one committed user turn."""

    text: str | None = Field(None, description="The transcript (completed).")
    segments: list[SpeakerSegment] | None = Field(
        None,
        max_length=100,
        description="The transcript by speaker: a diarising model "
        "(gpt-4o-transcribe-diarize) reports each as a segment; others, the texts joined.",
    )
    error: ErrorFault | None = Field(None, description="Report a failure instead (failed).")

    @model_validator(mode="after")
    def _one(self) -> Transcription:
        given = [v for v in (self.text, self.segments, self.error) if v is not None]
        if len(given) != 1:
            raise ValueError("a transcription has one of text, segments or error")
        return self


class ClientOutcome(Strict):
    """How a correct client's process ends (what ``realtime-mock run`` checks)."""

    exit: Literal["zero", "nonzero", "any"] = Field(
        "zero",
        description="zero: a correct client exits 0; nonzero: it reports a failure and exits "
        "non-zero (a refused key, an unknown model); any: either is right.",
    )


def parse_dialect(value: Any) -> Any:
    """``ga`` / ``beta`` as the :class:`Dialect`, ``any`` as None (the handshake decides); other
    values are left for the field's own error."""
    if value == "any":
        return None
    if isinstance(value, str) and value in ("ga", "beta"):
        return Dialect(value)
    return value


# A scenario's dialect, or None: each connection speaks the one its handshake asks for. Written
# ga, beta or any (the JSON Schema says so); ``any`` is read as None.
ScenarioDialect = Annotated[
    Dialect | None,
    BeforeValidator(parse_dialect),
    WithJsonSchema({"enum": ["ga", "beta", "any"], "type": "string"}),
]


class Scenario(Strict):
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
    dialect: ScenarioDialect = Field(None, title="Dialect", json_schema_extra={"default": "any"})
    pace: str = Field(
        "fast",
        description="realtime, fast, or xN such as x10: scales every pause of the timing "
        "(fast: none); recorded: realtime, each respond with the timing it was recorded with.",
    )
    timing: TimingField = Field(
        default_factory=lambda: TimingSpec(),
        description="When the model's events go out: live (the default, live-like) or steady, "
        "or fields of it (docs/scenarios.md, Timing).",
    )
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
    client_secrets: list[Handshake] | None = Field(
        None,
        description="Per-request answers of the REST side (POST /v1/realtime/client_secrets "
        "and the beta-era /v1/realtime/sessions and /transcription_sessions): refuse with a "
        "status, wait a delay, require a key, as handshake does; the last entry repeats. "
        "Default: every request with a key gets its ephemeral key.",
    )
    client_secret_requests: int | None = Field(
        None,
        description="How many requests for client secrets a correct backend makes (refused "
        "ones too).",
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

    @field_validator("pace")
    @classmethod
    def _a_pace(cls, pace: str) -> str:
        from mock_server.units import parse_pace

        if pace.strip().lower() == "recorded":
            return "recorded"
        try:
            parse_pace(pace)
        except ValueError as exc:
            raise bound_error(str(exc), "e.g. pace: x10") from None
        return pace

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


Connection.model_rebuild()

__all__ = [
    "CLOSE_CODE_SCHEMA",
    "MAX_CLOSE_REASON_BYTES",
    "MAX_REPEAT_TIMES",
    "MAX_UNROLLED_STEPS",
    "PASSTHROUGH_ACTIONS",
    "REFUSAL_STATUSES",
    "ClientOutcome",
    "CloseFault",
    "Connection",
    "Duration",
    "ErrorFault",
    "EventMatch",
    "Expect",
    "FunctionCall",
    "Handshake",
    "McpCall",
    "McpToolError",
    "OutputItem",
    "Repeat",
    "Respond",
    "Rule",
    "Scenario",
    "ScenarioDialect",
    "Step",
    "Transcription",
    "WaitUntil",
    "When",
    "bound_error",
    "parse_dialect",
    "sendable_close_code",
    "unrolled_size",
]
