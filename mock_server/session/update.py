"""A session's configuration: how it starts, how a ``session.update`` changes it, and the
``session.created`` / ``session.updated`` events that show it.

The configuration is held in the neutral (GA) shape and replaced whole on each update (copy on
write: the parts an update does not touch are shared), so a refused update leaves nothing
behind. Its size is bounded (:data:`~mock_server.protocol.frames.MAX_SESSION_CONFIG_BYTES`):
each ``session.updated`` carries all of it. The dialect's shapes, both ways, are the encoder's.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from mock_server.protocol import session_config
from mock_server.protocol.encoding import Encoder
from mock_server.protocol.errors import RealtimeError
from mock_server.protocol.frames import MAX_SESSION_CONFIG_BYTES, WIRE_JSON
from mock_server.session.options import SessionOptions
from mock_server.session.outbox import Outbox

log = logging.getLogger("realtime_mock")


class SessionConfig:
    """The configuration of one session, and the events that show it."""

    def __init__(self, encoder: Encoder, outbox: Outbox) -> None:
        self.encoder = encoder
        self.outbox = outbox
        self.config: dict[str, Any] = {}
        self._sizes: dict[str, int] = {}
        # The last session event's fields and their JSON (see announce).
        self._session_json: dict[str, tuple[Any, str]] = {}

    def current(self) -> dict[str, Any]:
        return self.config

    def start(self, options: SessionOptions, session_id: str, now: float) -> RealtimeError | None:
        """The configuration a session opens with: the dialect's defaults and a scenario's
        settings; the error to send when those settings cannot be applied."""
        self.config = self.encoder.initial_config(options.model, session_id, now, options.intent)
        refused: RealtimeError | None = None
        overrides = options.session_overrides
        if overrides:
            # Client frames cannot carry NaN (strict parsing); a scenario's YAML can (.nan).
            where = session_config.first_non_finite(overrides)
            if where is None:
                self.config = session_config.apply_update(self.config, overrides)
            else:
                refused = RealtimeError(
                    f"realtime-mock: the scenario's session settings were not applied: "
                    f"'session.{where}' is not a finite number (JSON has no NaN or Infinity).",
                    "invalid_value",
                    f"session.{where}",
                )
        self._sizes = {k: len(WIRE_JSON.encode(v)) for k, v in self.config.items()}
        return refused

    def update(self, update: dict[str, Any], reconfigure: Callable[[], None]) -> None:
        """Apply a client's (validated) ``session.update`` and announce it; ``reconfigure``
        follows the new configuration (the VAD). Refused (RealtimeError), nothing is kept."""
        self.encoder.check_session_update(self.config, update)
        model = update.get("model")
        if model is not None and model != self.config.get("model"):
            raise RealtimeError(
                "The model of a session cannot be changed once it has started.",
                "invalid_value",
                "session.model",
            )
        previous = self.config, self._sizes
        try:
            self.config = self.encoder.apply_update(self.config, update)
            self._sizes = self._check_size(previous[0])
            reconfigure()
            session = self.encoder.session_object(self.config)
        except Exception as exc:
            # Nothing of a refused update is kept: a value the next update (or a response)
            # would trip over never reaches the stored configuration.
            self.config, self._sizes = previous
            if isinstance(exc, RealtimeError):
                raise
            raise _refused("session.update", exc) from exc
        self.announce("session.updated", session)

    def _check_size(self, before: dict[str, Any]) -> dict[str, int]:
        """The encoded size of each top-level field of the new configuration, measuring only
        the fields this update replaced; over :data:`MAX_SESSION_CONFIG_BYTES` in all, the
        update is refused (each ``session.updated`` carries the whole configuration)."""
        sizes = dict(self._sizes)
        for key, value in self.config.items():
            if key not in sizes or before.get(key) is not value:
                sizes[key] = len(WIRE_JSON.encode(value))
        for key in [k for k in sizes if k not in self.config]:
            del sizes[key]
        total = sum(sizes.values())
        if total > MAX_SESSION_CONFIG_BYTES:
            largest = max(sizes, key=lambda k: sizes[k])
            raise RealtimeError(
                f"Invalid 'session': the configuration would be {total} bytes of JSON, over "
                f"the limit of {MAX_SESSION_CONFIG_BYTES} bytes (1 MiB); its largest field is "
                f"'{largest}' ({sizes[largest]} bytes).",
                "session_config_too_large",
                f"session.{largest}",
            )
        return sizes

    def announce(self, type_: str, session: dict[str, Any] | None = None) -> dict[str, Any]:
        """Send a ``session.created``/``.updated``: the JSON of each field the last such event
        carried unchanged (the same object: configurations are copied on write) is reused, so
        a small update to a session with a large tool list costs the update."""
        if session is None:
            session = self.encoder.session_object(self.config)
        wire: dict[str, Any] = {
            "event_id": self.outbox.ids.new("event"),
            "type": self.encoder.event_name(type_),
            "session": session,
        }
        previous = self._session_json
        parts: dict[str, tuple[Any, str]] = {}
        texts = []
        for key, value in session.items():
            known = previous.get(key)
            text = known[1] if known is not None and known[0] is value else WIRE_JSON.encode(value)
            parts[key] = (value, text)
            texts.append(f"{WIRE_JSON.encode(key)}:{text}")
        self._session_json = parts
        head = WIRE_JSON.encode({"event_id": wire["event_id"], "type": wire["type"]})
        return self.outbox.queue(wire, head[:-1] + ',"session":{' + ",".join(texts) + "}}")

    def update_transcription(self, update: dict[str, Any], reconfigure: Callable[[], None]) -> None:
        """A beta ``transcription_session.update``: its settings (transcription model, language
        and prompt, turn detection, noise reduction, ``include``, formats) applied as a
        ``session.update``'s are, and the session becomes a transcription session (a turn the
        VAD detects starts no response); refused whole, like an update, nothing is kept."""
        previous = self.config, self._sizes
        try:
            applied = self.encoder.apply_update(self.config, update)
            self.config = session_config.replaced(applied, ("type",), "transcription")
            self._sizes = self._check_size(previous[0])
            reconfigure()
            session = self.encoder.transcription_session_object(self.config)
        except Exception as exc:
            self.config, self._sizes = previous
            if isinstance(exc, RealtimeError):
                raise
            raise _refused("transcription_session.update", exc) from exc
        self.outbox.emit({"type": "transcription_session.updated", "session": session})


def _refused(event_type: str, exc: Exception) -> RealtimeError:
    """What a client hears of an update that failed on a bug of ours (logged): an
    ``invalid_value`` that says the previous configuration stays."""
    log.exception(f"realtime-mock: {event_type} could not be applied")
    return RealtimeError(
        f"Invalid 'session': the update could not be applied ({type(exc).__name__}: "
        f"{exc}); the session keeps its previous configuration.",
        "invalid_value",
        "session",
    )
