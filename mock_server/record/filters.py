"""What a recording keeps of a transcript, and what it filters out.

Two kinds of filter. Redaction: plain functions of ``(value, secrets)`` applied to everything a
recording writes (:data:`FILTERS`, which a user can extend, for instance to remove personal
data); the functions themselves are :mod:`mock_server.redaction`'s. Loosening: the fields a
replay cannot repeat (``event_id``, ids the server made, audio bytes, playback offsets) and the
server events the emulator makes by itself from the client's events (:data:`EMULATED`).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from typing import Any

from mock_server.protocol.events import BETA_SERVER_NAMES
from mock_server.redaction import REDACTED, redact_secret_fields, redact_strings, redact_text
from mock_server.scenario.templating import escape

Filter = Callable[[Any, Sequence[str]], Any]
FILTERS: list[Filter] = [redact_secret_fields, redact_strings]


def redact(value: Any, secrets: Sequence[str]) -> Any:
    """``value`` through every filter of :data:`FILTERS`.

    >>> redact({"session": {"client_secret": {"value": "ek_abcdefgh1234"}}, "k": "sk-x1234567"}, [])
    {'session': {'client_secret': {'value': '<redacted>'}}, 'k': '<redacted>'}
    """
    for apply in FILTERS:
        value = apply(value, secrets)
    return value


def secret_regex(text: str, secrets: Sequence[str]) -> str | dict[str, str]:
    """A client's string with a secret in it, as a regex matching it whatever the secret is."""
    redacted = redact_text(text, secrets)
    if redacted == text:
        return text
    return {"regex": "^" + ".+".join(re.escape(p) for p in redacted.split(REDACTED)) + "$"}


GA_NAMES = {beta: ga for ga, beta in BETA_SERVER_NAMES.items()}
# What the emulator says by itself in answer to the client's events: a replay makes these anew.
EMULATED = frozenset(
    {
        "session.created",
        "session.updated",
        "transcription_session.updated",
        "conversation.created",
        "conversation.item.added",
        "conversation.item.created",
        "conversation.item.done",
        "conversation.item.retrieved",
        "conversation.item.deleted",
        "conversation.item.truncated",
        "conversation.item.input_audio_transcription.delta",
        "conversation.item.input_audio_transcription.segment",
        "input_audio_buffer.committed",
        "input_audio_buffer.cleared",
        "input_audio_buffer.speech_started",
        "input_audio_buffer.speech_stopped",
        "input_audio_buffer.timeout_triggered",
        "output_audio_buffer.cleared",
        "rate_limits.updated",
    }
)
ID_KEYS = frozenset({"id", "item_id", "previous_item_id", "response_id", "conversation_id"})
LOOSE_KEYS = frozenset({"audio", "audio_end_ms", "audio_start_ms"})


def ga_name(type_: str) -> str:
    """A server event's GA name, whichever dialect it was recorded in."""
    return GA_NAMES.get(type_, type_)


def without_event_id(event: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in event.items() if k != "event_id"}


class Placeholder(str):
    """A template placeholder the recorder writes itself (recorded text is escaped instead)."""


def escape_templates(value: Any) -> Any:
    """Recorded strings as templates that render to themselves (``{{`` is not a placeholder)."""
    if isinstance(value, dict):
        return {k: escape_templates(v) for k, v in value.items()}
    if isinstance(value, list):
        return [escape_templates(v) for v in value]
    if isinstance(value, Placeholder):
        return str(value)
    if isinstance(value, str):
        return escape(value)
    return value
