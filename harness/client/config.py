"""How the reference client is set up (:class:`ClientConfig`, :class:`Backoff`) and what one
turn returns (:class:`Turn`); the session configuration is GA-shaped and converted for beta."""

from __future__ import annotations

import random
import ssl
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from mock_server.protocol.events import Dialect

Tool = Callable[[dict[str, Any]], Any | Awaitable[Any]]


@dataclass
class Backoff:
    """Exponential backoff with full jitter; ``retry-after`` wins when the server sends it."""

    base_s: float = 0.5
    max_s: float = 8.0
    retries: int = 5
    rng: random.Random = field(default_factory=random.Random)

    def delay(self, attempt: int, retry_after: float | None = None) -> float:
        if retry_after is not None:
            return min(retry_after, self.max_s * 4)
        return self.rng.uniform(0, min(self.max_s, self.base_s * 2**attempt))


@dataclass
class Turn:
    """What one response produced."""

    response_id: str = ""
    status: str = ""
    text: str = ""
    audio: bytearray = field(default_factory=bytearray)
    function_calls: list[dict[str, Any]] = field(default_factory=list)
    items: list[dict[str, Any]] = field(default_factory=list)
    events: list[dict[str, Any]] = field(default_factory=list)


@dataclass
class ClientConfig:
    """Where and how to connect; ``session`` is GA-shaped and converted for beta."""

    url: str
    api_key: str
    model: str = "gpt-realtime"
    # The one Dialect; its name as typed ("ga", "beta") is accepted and converted.
    dialect: Dialect | str = Dialect.GA
    session: dict[str, Any] = field(default_factory=dict)
    tools: dict[str, Tool] = field(default_factory=dict)
    tool_schemas: list[dict[str, Any]] = field(default_factory=list)
    # Whether to approve an MCP call the service asks about (its mcp_approval_request item).
    approve_mcp: Callable[[dict[str, Any]], bool] = lambda request: True
    backoff: Backoff = field(default_factory=Backoff)
    ssl_context: ssl.SSLContext | None = None
    timeout_s: float = 30.0
    max_reconnects: int = 3

    def __post_init__(self) -> None:
        self.dialect = Dialect(self.dialect)


def beta_session(ga: dict[str, Any]) -> dict[str, Any]:
    """The beta (flat) form of a GA-shaped session configuration."""
    beta: dict[str, Any] = {}
    formats = {"audio/pcm": "pcm16", "audio/pcmu": "g711_ulaw", "audio/pcma": "g711_alaw"}
    for key, value in ga.items():
        if key == "type":
            continue
        if key == "output_modalities":
            beta["modalities"] = ["text", "audio"] if "audio" in value else ["text"]
        elif key == "max_output_tokens":
            beta["max_response_output_tokens"] = value
        elif key == "audio":
            audio_in = value.get("input", {})
            audio_out = value.get("output", {})
            if "format" in audio_in:
                beta["input_audio_format"] = formats.get(audio_in["format"].get("type"), "pcm16")
            if "turn_detection" in audio_in:
                beta["turn_detection"] = audio_in["turn_detection"]
            if "transcription" in audio_in:
                beta["input_audio_transcription"] = audio_in["transcription"]
            if "format" in audio_out:
                beta["output_audio_format"] = formats.get(audio_out["format"].get("type"), "pcm16")
            if "voice" in audio_out:
                beta["voice"] = audio_out["voice"]
        elif key == "tool_choice" and isinstance(value, dict):
            beta["tool_choice"] = value.get("name", "required")
        else:
            beta[key] = value
    return beta
