"""The GA dialect's wire shapes: the neutral form itself, with little to add.

The mock holds everything in the GA shape, so this encoder mostly passes it through: the session
object without the beta-only ``temperature``, items without their audio, the GA response object
(``output_modalities``, ``audio.output``) and the GA usage details.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from mock_server.ids import IdFactory
from mock_server.protocol import items, session_config
from mock_server.protocol.encoding.base import Encoder, ResponseSettings
from mock_server.protocol.errors import RealtimeError
from mock_server.protocol.events import Dialect


class GaEncoder(Encoder):
    """The GA dialect (the answers of :class:`Encoder` are GA's)."""

    dialect = Dialect.GA

    def initial_config(
        self, model: str, session_id: str, now: float, intent: str | None
    ) -> dict[str, Any]:
        if intent == "transcription":
            return session_config.transcription_session(session_id, now)
        return session_config.default_session(self.dialect, model, session_id, now)

    def session_object(self, config: dict[str, Any]) -> dict[str, Any]:
        """The neutral configuration minus beta's ``temperature``: it shares its nested values
        with ``config``, which is never changed in place (updates copy on write), so no copy
        of a large tool schema is made per event.

        >>> GaEncoder().session_object({"id": "s", "temperature": 0.8})
        {'id': 's'}
        """
        out = dict(config)
        out.pop("temperature", None)
        return out

    def check_session_update(self, config: dict[str, Any], update: Mapping[str, Any]) -> None:
        if update.get("type") != config.get("type"):
            raise RealtimeError(
                f"Cannot update a session of type '{config.get('type')}' to type "
                f"'{update.get('type')}'.",
                "invalid_value",
                "session.type",
            )

    def apply_update(self, config: dict[str, Any], update: dict[str, Any]) -> dict[str, Any]:
        return session_config.apply_update(config, update)

    def item(self, item: dict[str, Any], *, with_audio: bool = False) -> dict[str, Any]:
        return items.encode(item, with_audio=with_audio)

    def item_from_client(self, item: dict[str, Any], ids: IdFactory) -> dict[str, Any]:
        return items.from_client(item, ids)

    def response_settings(
        self, overrides: Mapping[str, Any], config: dict[str, Any]
    ) -> ResponseSettings:
        audio_out = (overrides.get("audio") or {}).get("output") or {}
        return ResponseSettings(
            output_modalities=list(
                overrides.get("output_modalities") or config.get("output_modalities") or ["audio"]
            ),
            output_format=session_config.format_name(
                audio_out.get("format") or config["audio"]["output"].get("format")
            ),
            voice=audio_out.get("voice") or config["audio"]["output"].get("voice"),
            max_output_tokens=overrides.get(
                "max_output_tokens", config.get("max_output_tokens", "inf")
            ),
        )

    def response_object(
        self, response: dict[str, Any], settings: ResponseSettings, config: dict[str, Any]
    ) -> dict[str, Any]:
        response["output_modalities"] = settings.output_modalities
        response["audio"] = {
            "output": {
                "format": session_config.ga_format(settings.output_format),
                "voice": settings.voice,
            }
        }
        return response

    def recorded_format(self, response: Mapping[str, Any]) -> Any:
        return ((response.get("audio") or {}).get("output") or {}).get("format")

    def recorded_overrides(self, response: Mapping[str, Any], output_format: str) -> dict[str, Any]:
        return {
            "output_modalities": response.get("output_modalities") or ["audio"],
            "audio": {"output": {"format": session_config.ga_format(output_format)}},
            "max_output_tokens": response.get("max_output_tokens", "inf"),
        }

    def input_token_details(self, details: dict[str, Any]) -> dict[str, Any]:
        details["image_tokens"] = 0
        details["cached_tokens_details"] = {"text_tokens": 0, "audio_tokens": 0, "image_tokens": 0}
        return details


ENCODER = GaEncoder()
