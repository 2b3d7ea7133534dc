"""The scenario format's ``timing:``: when the model's events go out, for a scenario or a respond.

``timing: steady`` or ``timing: live`` names a profile of :mod:`mock_server.timing`; a mapping
changes fields of the profile in force (``profile:`` first sets which one). A scenario's timing
is its sessions'; a ``respond``'s changes the scenario's for that response only. The scenario's
``pace`` scales every pause (``fast``: none).
"""

from __future__ import annotations

import dataclasses
from typing import Annotated, Any, Literal

from pydantic import BeforeValidator, Field, WithJsonSchema

from mock_server.scenario.bounds import Duration, Strict
from mock_server.timing import LIVE_LIKE, PROFILES, Timing

MAX_RATE = 1000.0


class TimingSpec(Strict):
    """When the model's events go out (docs/scenarios.md, "Timing"); unset fields keep the
    profile's."""

    profile: Literal["live", "steady"] | None = Field(
        None,
        description="live: the default, live-like (latency, audio at 3x real time, jitter, the "
        "input transcription after response.created); steady: no latency, audio at exactly 1x, "
        "no jitter, the transcription before the response.",
    )
    first_event: Duration | None = Field(
        None, description="From the request (response.create, a VAD turn) to response.created."
    )
    first_delta: Duration | None = Field(
        None, description="From response.created to the first delta (time to first token)."
    )
    audio_rate: float | None = Field(
        None, gt=0, le=MAX_RATE, description="Audio sent at this many times real time."
    )
    text_rate: float | None = Field(
        None,
        gt=0,
        le=MAX_RATE,
        description="Text and arguments at this many times the pace of speech (20: about 50 "
        "words a second).",
    )
    jitter: float | None = Field(
        None,
        ge=0,
        lt=1,
        description="Each pause varies by up to this fraction either way (seeded: the "
        "scenario's seed gives the same times).",
    )
    transcription: (
        Literal["before_response", "after_created", "after_first_delta", "after_done"] | None
    ) = Field(
        None,
        description="Where the input transcription of a committed turn lands among the events "
        "of the response it starts.",
    )

    def fields(self) -> dict[str, Any]:
        """The :class:`~mock_server.timing.Timing` fields this sets (a profile sets them all)."""
        out: dict[str, Any] = {}
        if self.profile is not None:
            out = dataclasses.asdict(PROFILES[self.profile])
        given = {
            "first_event_s": self.first_event,
            "first_delta_s": self.first_delta,
            "audio_rate": self.audio_rate,
            "text_rate": self.text_rate,
            "jitter": self.jitter,
            "transcription": self.transcription,
        }
        out.update({k: v for k, v in given.items() if v is not None})
        return out

    def timing(self, base: Timing = LIVE_LIKE) -> Timing:
        return base.merged(self.fields())


def _profile_shorthand(value: Any) -> Any:
    """``timing: steady`` is ``timing: {profile: steady}``."""
    return {"profile": value} if isinstance(value, str) else value


_SCHEMA: dict[str, Any] = {
    "anyOf": [
        {"type": "string", "enum": sorted(PROFILES)},
        TimingSpec.model_json_schema(),
    ]
}
TimingField = Annotated[TimingSpec, BeforeValidator(_profile_shorthand), WithJsonSchema(_SCHEMA)]

__all__ = ["TimingField", "TimingSpec"]
