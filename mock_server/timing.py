"""When a response's events go out: the timing profile of the mock's model, live-like by default.

A :class:`Timing` says how long the model takes to start, how fast it streams audio and text
(times real time), how much each pause varies (seeded jitter, so a seed gives the same times),
and where the user's input transcription lands among the response's events. The session's pace
scales every pause it implies: ``realtime`` (1) plays the profile as it is, ``xN`` N times
faster, ``fast`` (0) sends everything at once, in the same order.

:data:`LIVE_LIKE` is the default (docs/scenarios.md, "Timing"): as the live service, audio
comes several times faster than it plays (the client buffers it) and the transcript deltas are
spread along it, the response starts after a short latency, and the input transcription comes
after ``response.created``. A scenario's ``timing:`` and a ``respond``'s own change fields of it.

>>> round(LIVE_LIKE.audio_pause(0.1), 4)  # a 100 ms chunk at 3x real time
0.0333
>>> Timing().merged({"audio_rate": 1}).audio_pause(0.1)
0.1
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any, Literal

# Where the input transcription of a committed turn lands, relative to the response the turn
# starts: before it (at the commit), after response.created, after the response's first delta,
# or after its response.done.
TranscriptionAt = Literal["before_response", "after_created", "after_first_delta", "after_done"]
TRANSCRIPTION_POSITIONS: tuple[str, ...] = (
    "before_response",
    "after_created",
    "after_first_delta",
    "after_done",
)
# What "real time" is for text: the pace of speech, about 150 words a minute.
SPEECH_CHARS_PER_S = 15.0


@dataclass(frozen=True)
class Timing:
    """A model's timing; seconds are real seconds at pace 1 (``realtime``)."""

    first_event_s: float = 0.1
    """From the request (``response.create``, or the turn the VAD commits) to
    ``response.created``."""
    first_delta_s: float = 0.25
    """From ``response.created`` to the first delta (the model's time to first token)."""
    audio_rate: float = 3.0
    """Audio sent at this many times real time (1: exactly as it plays)."""
    text_rate: float = 20.0
    """Text and function-call arguments at this many times the pace of speech (20: about 50
    words a second); transcript deltas follow their audio instead."""
    jitter: float = 0.2
    """Each pause varies by up to this fraction either way, from the session's seed."""
    transcription: TranscriptionAt = "after_created"
    """Where the input transcription of the turn lands among the response's events."""

    def merged(self, fields: dict[str, Any]) -> Timing:
        """This timing with ``fields`` changed (None values are left as they are)."""
        given = {k: v for k, v in fields.items() if v is not None}
        return dataclasses.replace(self, **given) if given else self

    def audio_pause(self, seconds: float) -> float:
        """The pause after a chunk of ``seconds`` of audio (before jitter and pace)."""
        return seconds / self.audio_rate

    def text_pause(self, text: str) -> float:
        """The pause after a text delta (before jitter and pace)."""
        return len(text) / SPEECH_CHARS_PER_S / self.text_rate


LIVE_LIKE = Timing()
# Steady: no latency, audio at exactly 1x real time, no jitter, the transcription before the
# response (the mock's timing before the live-like profile; predictable at pace realtime).
STEADY = Timing(
    first_event_s=0.0,
    first_delta_s=0.0,
    audio_rate=1.0,
    jitter=0.0,
    transcription="before_response",
)
PROFILES = {"live": LIVE_LIKE, "steady": STEADY}
__all__ = [
    "LIVE_LIKE",
    "PROFILES",
    "SPEECH_CHARS_PER_S",
    "STEADY",
    "TRANSCRIPTION_POSITIONS",
    "Timing",
]
