"""The :class:`Encoder` interface every dialect's encoder fills in (GA's answers by default),
and the response settings both dialects read from a ``response.create``."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from mock_server.ids import IdFactory
from mock_server.protocol.errors import RealtimeError
from mock_server.protocol.events import Dialect


@dataclass(frozen=True)
class ResponseSettings:
    """What a ``response.create`` (or the session, for what it leaves out) sets for a reply."""

    output_modalities: list[str]
    output_format: str  # neutral name: pcm16, g711_ulaw, g711_alaw
    voice: Any
    max_output_tokens: Any


class Encoder:
    """One dialect's wire shapes. Subclasses fill in the shapes; the answers below are GA's."""

    dialect: Dialect
    # Whether the session announces its conversation (``conversation.created``) after
    # ``session.created``.
    announces_conversation: bool = False
    # The event that says an item joined the conversation, and the one (if any) that says it
    # is complete: GA ``conversation.item.added`` / ``.done``, beta ``.created`` alone.
    item_added_event: str = "conversation.item.added"
    item_done_event: str | None = "conversation.item.done"
    # Whether ``response.function_call_arguments.done`` names the function.
    names_function_in_arguments_done: bool = True
    # Whether a session's turn detection may have an ``idle_timeout_ms``.
    has_idle_timeout: bool = True

    def event_name(self, ga_name: str) -> str:
        """The name a server event (built under its GA name) travels under."""
        return ga_name

    # ---- the session object -------------------------------------------------------------

    def initial_config(
        self, model: str, session_id: str, now: float, intent: str | None
    ) -> dict[str, Any]:
        """The neutral configuration a new session starts with."""
        raise NotImplementedError

    def session_object(self, config: dict[str, Any]) -> dict[str, Any]:
        """The session as ``session.created`` / ``session.updated`` carry it."""
        raise NotImplementedError

    def transcription_session_object(self, config: dict[str, Any]) -> dict[str, Any]:
        """The session as beta's ``transcription_session.updated`` carries it (beta only)."""
        raise NotImplementedError

    def check_session_update(self, config: dict[str, Any], update: Mapping[str, Any]) -> None:
        """Refuse (RealtimeError) an update the dialect forbids beyond its models' checks."""

    def apply_update(self, config: dict[str, Any], update: dict[str, Any]) -> dict[str, Any]:
        """The neutral configuration after a (validated) client ``session.update``."""
        raise NotImplementedError

    def validate(self, event: Mapping[str, Any]) -> RealtimeError | None:
        """The client event checked as the live service of this dialect checks it."""
        from mock_server.protocol.validation import validate_client_event

        return validate_client_event(event, self.dialect)

    # ---- items --------------------------------------------------------------------------

    def item(self, item: dict[str, Any], *, with_audio: bool = False) -> dict[str, Any]:
        """A neutral item as this dialect's server events carry it."""
        raise NotImplementedError

    def item_from_client(self, item: dict[str, Any], ids: IdFactory) -> dict[str, Any]:
        """The neutral item for a (validated) client item of this dialect."""
        raise NotImplementedError

    # ---- responses ----------------------------------------------------------------------

    def response_settings(
        self, overrides: Mapping[str, Any], config: dict[str, Any]
    ) -> ResponseSettings:
        """A ``response.create``'s settings, the session's where it leaves them out."""
        raise NotImplementedError

    def response_object(
        self, response: dict[str, Any], settings: ResponseSettings, config: dict[str, Any]
    ) -> dict[str, Any]:
        """The neutral fields of a response object with this dialect's own added."""
        raise NotImplementedError

    def recorded_format(self, response: Mapping[str, Any]) -> Any:
        """A recorded response object's output format, as this dialect writes it."""
        raise NotImplementedError

    def recorded_overrides(self, response: Mapping[str, Any], output_format: str) -> dict[str, Any]:
        """The ``response.create`` fields of this dialect that ask for what a recorded response
        object did (``output_format``: its format's neutral name)."""
        raise NotImplementedError

    def input_token_details(self, details: dict[str, Any]) -> dict[str, Any]:
        """A usage's ``input_token_details`` with the fields this dialect reports."""
        return details
