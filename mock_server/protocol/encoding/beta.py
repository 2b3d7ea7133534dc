"""The beta dialect's wire shapes (``OpenAI-Beta: realtime=v1``), to and from the neutral form.

Beta's session object is flat (``modalities``, ``input_audio_format``, ``voice`` at the top),
its assistant content types are ``text`` / ``audio``, six server events have older names
(:data:`~mock_server.protocol.events.BETA_SERVER_NAMES`), an item joins the conversation with
one ``conversation.item.created``, and a session announces its conversation with
``conversation.created``. PROTOCOL.md sections 3-4 list the differences.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping
from typing import Any

from mock_server.ids import IdFactory
from mock_server.protocol import items, session_config
from mock_server.protocol.encoding.base import Encoder, ResponseSettings
from mock_server.protocol.events import BETA_CONTENT_TYPES, BETA_SERVER_NAMES, Dialect
from mock_server.protocol.session_config import (
    NULL_MEANS_OFF,
    TURN_DETECTION,
    beta_format,
    beta_modalities,
    ga_format,
    ga_modalities,
    replaced,
    with_turn_defaults,
    without_nulls,
)

_GA_CONTENT_TYPES = {beta: ga for ga, beta in BETA_CONTENT_TYPES.items()}


class BetaEncoder(Encoder):
    """The beta dialect."""

    dialect = Dialect.BETA
    announces_conversation = True
    item_added_event = "conversation.item.created"
    item_done_event = None
    names_function_in_arguments_done = False
    has_idle_timeout = False

    def event_name(self, ga_name: str) -> str:
        return BETA_SERVER_NAMES.get(ga_name, ga_name)

    def initial_config(
        self, model: str, session_id: str, now: float, intent: str | None
    ) -> dict[str, Any]:
        # Beta has no transcription intent on /v1/realtime: a realtime session either way.
        return session_config.default_session(self.dialect, model, session_id, now)

    def session_object(self, config: dict[str, Any]) -> dict[str, Any]:
        audio_in = config["audio"]["input"]
        audio_out = config["audio"].get("output", {})
        turn = audio_in.get("turn_detection")
        if turn is not None:
            turn = {k: v for k, v in turn.items() if k != "idle_timeout_ms"}
        return {
            "id": config["id"],
            "object": "realtime.session",
            "model": config.get("model"),
            "expires_at": config["expires_at"],
            "modalities": beta_modalities(config.get("output_modalities", ["audio"])),
            "instructions": config.get("instructions", ""),
            "voice": audio_out.get("voice", "alloy"),
            "input_audio_format": beta_format(audio_in.get("format")),
            "output_audio_format": beta_format(audio_out.get("format")),
            "input_audio_transcription": audio_in.get("transcription"),
            "input_audio_noise_reduction": audio_in.get("noise_reduction"),
            "turn_detection": turn,
            "tools": config.get("tools", []),
            "tool_choice": _beta_tool_choice(config.get("tool_choice", "auto")),
            "temperature": config.get("temperature", 0.8),
            "max_response_output_tokens": config.get("max_output_tokens", "inf"),
            "speed": audio_out.get("speed", 1.0),
            "tracing": config.get("tracing"),
            "client_secret": None,
            "include": None,
        }

    def transcription_session_object(self, config: dict[str, Any]) -> dict[str, Any]:
        """The transcription session beta's ``transcription_session.updated`` carries: the
        settings that apply to one (the SDK's model requires ``client_secret``, which the live
        service leaves out over the WebSocket: an empty one stands in for it)."""
        audio_in = config["audio"]["input"]
        turn = audio_in.get("turn_detection")
        if turn is not None:
            turn = {k: v for k, v in turn.items() if k != "idle_timeout_ms"}
        return {
            "id": config["id"],
            "object": "realtime.transcription_session",
            "expires_at": config["expires_at"],
            "client_secret": {"value": "", "expires_at": config["expires_at"]},
            "modalities": beta_modalities(config.get("output_modalities", ["audio"])),
            "input_audio_format": beta_format(audio_in.get("format")),
            "input_audio_transcription": audio_in.get("transcription"),
            "input_audio_noise_reduction": audio_in.get("noise_reduction"),
            "turn_detection": turn,
            "include": config.get("include"),
        }

    def apply_update(self, config: dict[str, Any], update: dict[str, Any]) -> dict[str, Any]:
        """A flat beta ``session.update`` merged into the neutral configuration.

        >>> cfg = session_config.default_session(Dialect.BETA, "gpt-4o-realtime", "s", 0)
        >>> BetaEncoder().apply_update(cfg, {"modalities": ["text"]})["output_modalities"]
        ['text']
        """
        new = config
        for key, value in update.items():
            if value is None and key not in NULL_MEANS_OFF:
                continue
            match key:
                case "modalities":
                    new = replaced(new, ("output_modalities",), ga_modalities(value))
                case "voice" | "speed":
                    new = replaced(new, ("audio", "output", key), copy.deepcopy(value))
                case "input_audio_format":
                    new = replaced(new, ("audio", "input", "format"), ga_format(value))
                case "output_audio_format":
                    new = replaced(new, ("audio", "output", "format"), ga_format(value))
                case "input_audio_transcription":
                    path = ("audio", "input", "transcription")
                    new = replaced(new, path, without_nulls(value))
                case "input_audio_noise_reduction":
                    path = ("audio", "input", "noise_reduction")
                    new = replaced(new, path, without_nulls(value))
                case "turn_detection":
                    new = replaced(new, TURN_DETECTION, without_nulls(value))
                    new = with_turn_defaults(new, self.dialect)
                case "max_response_output_tokens":
                    new = replaced(new, ("max_output_tokens",), value)
                case "model" | "client_secret":
                    pass
                case _:
                    new = replaced(new, (key,), copy.deepcopy(value))
        return new

    def item(self, item: dict[str, Any], *, with_audio: bool = False) -> dict[str, Any]:
        """The neutral item with beta's content types and without what beta's item model lacks.

        >>> BetaEncoder().item({"type": "message", "content": [{"type": "output_text"}]})
        {'type': 'message', 'content': [{'type': 'text'}]}
        """
        # One pass: the content parts copied (the one level changed), their audio dropped
        # unless asked for, their types renamed.
        out = dict(item)
        content = out.get("content")
        if isinstance(content, list):
            parts = []
            for part in content:
                part = dict(part)
                if not with_audio and "audio" in part:
                    part["audio"] = None
                part["type"] = BETA_CONTENT_TYPES.get(part.get("type", ""), part.get("type"))
                part.pop("detail", None)
                part.pop("image_url", None)
                parts.append(part)
            out["content"] = parts
        return out

    def item_from_client(self, item: dict[str, Any], ids: IdFactory) -> dict[str, Any]:
        return items.from_client(item, ids, _GA_CONTENT_TYPES)

    def response_settings(
        self, overrides: Mapping[str, Any], config: dict[str, Any]
    ) -> ResponseSettings:
        modalities = overrides.get("modalities")
        return ResponseSettings(
            output_modalities=list(
                (ga_modalities(modalities) if modalities else config.get("output_modalities"))
                or ["audio"]
            ),
            output_format=overrides.get("output_audio_format")
            or session_config.format_name(config["audio"]["output"].get("format")),
            voice=overrides.get("voice") or config["audio"]["output"].get("voice"),
            max_output_tokens=overrides.get(
                "max_response_output_tokens", config.get("max_output_tokens", "inf")
            ),
        )

    def response_object(
        self, response: dict[str, Any], settings: ResponseSettings, config: dict[str, Any]
    ) -> dict[str, Any]:
        response["modalities"] = beta_modalities(settings.output_modalities)
        response["voice"] = settings.voice
        response["output_audio_format"] = settings.output_format
        response["temperature"] = config.get("temperature", 0.8)
        return response

    def recorded_format(self, response: Mapping[str, Any]) -> Any:
        return response.get("output_audio_format")

    def recorded_overrides(self, response: Mapping[str, Any], output_format: str) -> dict[str, Any]:
        return {
            "modalities": response.get("modalities") or ["text", "audio"],
            "output_audio_format": output_format,
            "max_response_output_tokens": response.get("max_output_tokens", "inf"),
        }


def _beta_tool_choice(choice: Any) -> str:
    # Beta's tool_choice is a string: a forced function is named directly.
    if isinstance(choice, dict):
        return str(choice.get("name", "required"))
    return str(choice)


ENCODER = BetaEncoder()
