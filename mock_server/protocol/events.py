"""The one table of event names per dialect.

Inside the mock every server event is built under its GA name; :func:`wire_name` renames it for a
beta connection at the edge. Content types inside items differ too (GA ``output_text`` /
``output_audio`` vs beta ``text`` / ``audio``), see :data:`BETA_CONTENT_TYPES`.
"""

from __future__ import annotations

from enum import StrEnum


class Dialect(StrEnum):
    """Which shape of the protocol a connection speaks."""

    GA = "ga"
    BETA = "beta"


# A connection's dialect unless it asks for beta (the header or the subprotocol).
DEFAULT_DIALECT = Dialect.GA


# GA name -> beta name, for the server events that were renamed at GA (PROTOCOL.md section 3).
BETA_SERVER_NAMES: dict[str, str] = {
    "response.output_text.delta": "response.text.delta",
    "response.output_text.done": "response.text.done",
    "response.output_audio.delta": "response.audio.delta",
    "response.output_audio.done": "response.audio.done",
    "response.output_audio_transcript.delta": "response.audio_transcript.delta",
    "response.output_audio_transcript.done": "response.audio_transcript.done",
}

# Server events that exist in one dialect only (GA name for GA-only ones).
GA_ONLY_SERVER_EVENTS: frozenset[str] = frozenset(
    {
        "conversation.item.added",
        "conversation.item.done",
        "input_audio_buffer.timeout_triggered",
        "input_audio_buffer.dtmf_event_received",
        "conversation.item.input_audio_transcription.segment",
    }
)
BETA_ONLY_SERVER_EVENTS: frozenset[str] = frozenset({"transcription_session.updated"})

# Assistant content types inside conversation items: GA name -> beta name.
BETA_CONTENT_TYPES: dict[str, str] = {"output_text": "text", "output_audio": "audio"}

CLIENT_EVENT_TYPES: dict[Dialect, frozenset[str]] = {
    Dialect.GA: frozenset(
        {
            "session.update",
            "input_audio_buffer.append",
            "input_audio_buffer.commit",
            "input_audio_buffer.clear",
            "output_audio_buffer.clear",
            "conversation.item.create",
            "conversation.item.retrieve",
            "conversation.item.delete",
            "conversation.item.truncate",
            "response.create",
            "response.cancel",
        }
    ),
    Dialect.BETA: frozenset(
        {
            "session.update",
            "transcription_session.update",
            "input_audio_buffer.append",
            "input_audio_buffer.commit",
            "input_audio_buffer.clear",
            "output_audio_buffer.clear",
            "conversation.item.create",
            "conversation.item.retrieve",
            "conversation.item.delete",
            "conversation.item.truncate",
            "response.create",
            "response.cancel",
        }
    ),
}


# The server events of each dialect, under the names they travel with (the SDK's
# RealtimeServerEvent unions; tests/mock_server/scenario/test_lint.py keeps both tables equal to
# them). Scenario checking uses them without importing the SDK's models.
SERVER_EVENT_TYPES: dict[Dialect, frozenset[str]] = {
    Dialect.GA: frozenset(
        {
            "conversation.created",
            "conversation.item.added",
            "conversation.item.created",
            "conversation.item.deleted",
            "conversation.item.done",
            "conversation.item.input_audio_transcription.completed",
            "conversation.item.input_audio_transcription.delta",
            "conversation.item.input_audio_transcription.failed",
            "conversation.item.input_audio_transcription.segment",
            "conversation.item.retrieved",
            "conversation.item.truncated",
            "error",
            "input_audio_buffer.cleared",
            "input_audio_buffer.committed",
            "input_audio_buffer.dtmf_event_received",
            "input_audio_buffer.speech_started",
            "input_audio_buffer.speech_stopped",
            "input_audio_buffer.timeout_triggered",
            "mcp_list_tools.completed",
            "mcp_list_tools.failed",
            "mcp_list_tools.in_progress",
            "output_audio_buffer.cleared",
            "output_audio_buffer.started",
            "output_audio_buffer.stopped",
            "rate_limits.updated",
            "response.content_part.added",
            "response.content_part.done",
            "response.created",
            "response.done",
            "response.function_call_arguments.delta",
            "response.function_call_arguments.done",
            "response.mcp_call.completed",
            "response.mcp_call.failed",
            "response.mcp_call.in_progress",
            "response.mcp_call_arguments.delta",
            "response.mcp_call_arguments.done",
            "response.output_audio.delta",
            "response.output_audio.done",
            "response.output_audio_transcript.delta",
            "response.output_audio_transcript.done",
            "response.output_item.added",
            "response.output_item.done",
            "response.output_text.delta",
            "response.output_text.done",
            "session.created",
            "session.updated",
        }
    ),
    Dialect.BETA: frozenset(
        {
            "conversation.created",
            "conversation.item.created",
            "conversation.item.deleted",
            "conversation.item.input_audio_transcription.completed",
            "conversation.item.input_audio_transcription.delta",
            "conversation.item.input_audio_transcription.failed",
            "conversation.item.retrieved",
            "conversation.item.truncated",
            "error",
            "input_audio_buffer.cleared",
            "input_audio_buffer.committed",
            "input_audio_buffer.speech_started",
            "input_audio_buffer.speech_stopped",
            "output_audio_buffer.cleared",
            "output_audio_buffer.started",
            "output_audio_buffer.stopped",
            "rate_limits.updated",
            "response.audio.delta",
            "response.audio.done",
            "response.audio_transcript.delta",
            "response.audio_transcript.done",
            "response.content_part.added",
            "response.content_part.done",
            "response.created",
            "response.done",
            "response.function_call_arguments.delta",
            "response.function_call_arguments.done",
            "response.output_item.added",
            "response.output_item.done",
            "response.text.delta",
            "response.text.done",
            "session.created",
            "session.updated",
            "transcription_session.updated",
        }
    ),
}


def wire_name(ga_name: str, dialect: Dialect) -> str:
    """The name a server event travels under on a connection of ``dialect``.

    >>> wire_name("response.output_audio.delta", Dialect.BETA)
    'response.audio.delta'
    >>> wire_name("response.output_audio.delta", Dialect.GA)
    'response.output_audio.delta'
    """
    if dialect is Dialect.BETA:
        return BETA_SERVER_NAMES.get(ga_name, ga_name)
    return ga_name
