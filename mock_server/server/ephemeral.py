"""Ephemeral keys, as the live service issues them: the REST side of Realtime.

A backend (holding a real key) asks ``POST /v1/realtime/client_secrets`` for a short-lived
``ek_...`` key with a session configuration baked in; a browser or a phone then connects with
that key (``Authorization: Bearer ek_...`` or the ``openai-insecure-api-key.`` subprotocol) and
its session starts with that configuration. The beta-era ``POST /v1/realtime/sessions`` and
``/v1/realtime/transcription_sessions`` answer the session object with ``client_secret.value``.

:class:`EphemeralKeys` is what one server issued (bounded, expired keys dropped); the
``create_*`` functions read a request and answer it, without I/O. A key is valid only under the
mount prefix it was issued under, until its ``expires_at``; the session it starts may outlive it.
"""

from __future__ import annotations

import json
import secrets
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from websockets.http11 import Response

from mock_server.protocol.events import Dialect
from mock_server.protocol.http import HttpRequest, json_response, mask_key, openai_error

if TYPE_CHECKING:
    from mock_server.ids import IdFactory

# The encoders, the ids (numpy) and the session's defaults load with the first request for a
# key, not with the server: `serve` listens before the session package loads (warm.py).

EPHEMERAL_PREFIX = "ek_"
# What the live service allows for expires_after.seconds, and its default; beta-era session
# tokens lived one minute.
MIN_SECONDS, MAX_SECONDS, DEFAULT_SECONDS = 10, 7200, 600
BETA_SECONDS = 60
# Keys one server remembers at most (the oldest are forgotten first), so that a client that
# asks for keys in a loop cannot grow the server's memory.
MAX_KEYS = 10_000
DEFAULT_MODEL = "gpt-realtime"
# The configuration's fields that belong to the secret's own session object, not to the
# sessions the key starts (those get their own id and lifetime).
_NOT_BAKED = ("id", "object", "expires_at", "client_secret")
_BAD_JSON = (
    "We could not parse the JSON body of your request. (HINT: This likely means you aren't "
    "using your HTTP library correctly. The OpenAI API expects a JSON payload, but what was sent "
    "was not valid JSON.)"
)


@dataclass(frozen=True)
class EphemeralKey:
    """One issued key: where it is valid, until when, and the session it starts."""

    value: str
    prefix: str
    expires_at: int  # seconds since the epoch
    model: str
    intent: str | None  # "transcription" for a transcription session
    session: dict[str, Any] = field(default_factory=dict)  # neutral (GA) configuration


class EphemeralKeys:
    """The keys one server issued; ``clock`` is the wall clock (seconds since the epoch)."""

    def __init__(self, clock: Callable[[], float] = time.time) -> None:
        self.clock = clock
        self._keys: dict[str, EphemeralKey] = {}

    def issue(
        self, prefix: str, seconds: int, model: str, intent: str | None, session: dict[str, Any]
    ) -> EphemeralKey:
        now = self.clock()
        for value in [v for v, k in self._keys.items() if k.expires_at <= now]:
            del self._keys[value]
        while len(self._keys) >= MAX_KEYS:
            del self._keys[next(iter(self._keys))]
        key = EphemeralKey(
            EPHEMERAL_PREFIX + secrets.token_hex(16),
            prefix,
            int(now) + seconds,
            model,
            intent,
            session,
        )
        self._keys[key.value] = key
        return key

    def check(self, value: str, prefix: str) -> EphemeralKey | Response:
        """The key ``value`` presented under ``prefix``, or the live service's 401."""
        key = self._keys.get(value)
        if key is None or key.prefix != prefix:
            return _invalid(value, "this server did not issue it (under this URL)")
        if key.expires_at <= self.clock():
            return _invalid(value, f"it expired at {key.expires_at} (seconds since the epoch)")
        return key


def is_ephemeral(key: str | None) -> bool:
    return key is not None and key.startswith(EPHEMERAL_PREFIX)


def _invalid(value: str, why: str) -> Response:
    return openai_error(
        401,
        f"Incorrect API key provided: {mask_key(value)}. (realtime-mock: an ephemeral key, but "
        f"{why}; ask POST /v1/realtime/client_secrets for a new one.)",
        code="invalid_api_key",
    )


class RequestError(Exception):
    """A request the live service answers 400, with its error's fields."""

    def __init__(self, message: str, param: str | None = None, code: str | None = None) -> None:
        super().__init__(message)
        self.param, self.code = param, code

    def response(self) -> Response:
        return openai_error(400, str(self), param=self.param, code=self.code)


def create(keys: EphemeralKeys, prefix: str, suffix: str, request: HttpRequest) -> Response:
    """The answer to ``POST <prefix><suffix>`` (the caller has checked its key)."""
    try:
        body = _json_object(request.body)
        from mock_server.ids import IdFactory

        ids = IdFactory()  # unseeded: every secret's session has an id of its own
        if suffix.endswith("/client_secrets"):
            return _client_secret(keys, prefix, body, ids)
        if suffix.endswith("/transcription_sessions"):
            return _beta_transcription_session(keys, prefix, body, ids)
        return _beta_session(keys, prefix, body, ids)
    except RequestError as refused:
        return refused.response()


def _json_object(body: bytes) -> dict[str, Any]:
    if not body.strip():
        return {}
    try:
        value = json.loads(body)
    except ValueError:
        raise RequestError(_BAD_JSON) from None
    if not isinstance(value, dict):
        raise RequestError(_BAD_JSON)
    return value


def _unknown(body: Mapping[str, Any], known: tuple[str, ...], where: str = "") -> None:
    for name in body:
        if name not in known:
            raise RequestError(
                f"Unknown parameter: '{where}{name}'.", f"{where}{name}", "unknown_parameter"
            )


def _seconds(expires_after: Any, where: str, default: int) -> int:
    if expires_after is None:
        return default
    if not isinstance(expires_after, dict):
        raise RequestError(
            f"Invalid type for '{where}': expected an object.", where, "invalid_type"
        )
    _unknown(expires_after, ("anchor", "seconds"), f"{where}.")
    if expires_after.get("anchor", "created_at") != "created_at":
        raise RequestError(
            f"Invalid value for '{where}.anchor': only 'created_at' is supported.",
            f"{where}.anchor",
            "invalid_value",
        )
    seconds = expires_after.get("seconds", default)
    if (
        isinstance(seconds, bool)
        or not isinstance(seconds, int)
        or not (MIN_SECONDS <= seconds <= MAX_SECONDS)
    ):
        raise RequestError(
            f"Invalid '{where}.seconds': {seconds!r}. Expected an integer between {MIN_SECONDS} "
            f"and {MAX_SECONDS}.",
            f"{where}.seconds",
            "invalid_value",
        )
    return seconds


def _validated(dialect: Dialect, event_type: str, session: dict[str, Any]) -> None:
    """``session`` checked as the same session in a client event is checked."""
    from mock_server.protocol.encoding import encoder_for

    error = encoder_for(dialect).validate({"type": event_type, "session": session})
    if error is not None:
        raise RequestError(error.message, error.param, error.code)


def _baked(default: dict[str, Any], config: dict[str, Any]) -> dict[str, Any]:
    """What the request changed in the default configuration: the sessions the key starts get
    those fields, over the mount's (a scenario's ``session:``), and keep the rest."""
    return {
        k: v for k, v in config.items() if k not in _NOT_BAKED and v != default.get(k, object())
    }


def _client_secret(
    keys: EphemeralKeys, prefix: str, body: dict[str, Any], ids: IdFactory
) -> Response:
    from mock_server.protocol.encoding import encoder_for

    _unknown(body, ("session", "expires_after"))
    seconds = _seconds(body.get("expires_after"), "expires_after", DEFAULT_SECONDS)
    session = body.get("session") or {"type": "realtime"}
    if not isinstance(session, dict):
        raise RequestError(
            "Invalid type for 'session': expected an object.", "session", "invalid_type"
        )
    if session.get("type") not in ("realtime", "transcription"):
        raise RequestError(
            "Invalid value for 'session.type': expected 'realtime' or 'transcription'.",
            "session.type",
            "invalid_value",
        )
    _validated(Dialect.GA, "session.update", session)
    encoder = encoder_for(Dialect.GA)
    intent = "transcription" if session["type"] == "transcription" else None
    model = str(session.get("model") or DEFAULT_MODEL)
    default = encoder.initial_config(model, ids.new("sess"), keys.clock(), intent)
    config = encoder.apply_update(default, session)
    key = keys.issue(prefix, seconds, model, intent, _baked(default, config))
    answer = {
        "value": key.value,
        "expires_at": key.expires_at,
        "session": encoder.session_object(config),
    }
    return json_response(200, answer)


def _beta_session(
    keys: EphemeralKeys, prefix: str, body: dict[str, Any], ids: IdFactory
) -> Response:
    from mock_server.protocol.encoding import encoder_for

    secret = body.get("client_secret")
    seconds = BETA_SECONDS
    if secret is not None:
        if not isinstance(secret, dict):
            raise RequestError(
                "Invalid type for 'client_secret': expected an object.",
                "client_secret",
                "invalid_type",
            )
        _unknown(secret, ("expires_after",), "client_secret.")
        seconds = _seconds(secret.get("expires_after"), "client_secret.expires_after", BETA_SECONDS)
    session = {k: v for k, v in body.items() if k != "client_secret"}
    _validated(Dialect.BETA, "session.update", session)
    encoder = encoder_for(Dialect.BETA)
    model = str(body.get("model") or "gpt-4o-realtime-preview")
    default = encoder.initial_config(model, ids.new("sess"), keys.clock(), None)
    config = encoder.apply_update(default, session)
    key = keys.issue(prefix, seconds, model, None, _baked(default, config))
    answer = encoder.session_object(config)
    answer["client_secret"] = {"value": key.value, "expires_at": key.expires_at}
    return json_response(200, answer)


_TRANSCRIPTION_FIELDS = (
    "input_audio_format",
    "input_audio_transcription",
    "input_audio_noise_reduction",
    "turn_detection",
    "include",
    "modalities",
    "client_secret",
)


def _beta_transcription_session(
    keys: EphemeralKeys, prefix: str, body: dict[str, Any], ids: IdFactory
) -> Response:
    from mock_server.protocol.encoding import encoder_for
    from mock_server.protocol.session_config import ga_format, transcription_session

    _unknown(body, _TRANSCRIPTION_FIELDS)
    session = {k: v for k, v in body.items() if k != "client_secret"}
    error = encoder_for(Dialect.BETA).validate(
        {"type": "transcription_session.update", "session": session}
    )
    if error is not None:
        raise RequestError(error.message, error.param, error.code)
    default = transcription_session(ids.new("sess"), keys.clock())
    config = dict(default)
    audio_in = dict(config["audio"]["input"])
    if "input_audio_format" in body:
        audio_in["format"] = ga_format(str(body["input_audio_format"]))
    for field_name, neutral in (
        ("input_audio_transcription", "transcription"),
        ("input_audio_noise_reduction", "noise_reduction"),
        ("turn_detection", "turn_detection"),
    ):
        if field_name in body:
            audio_in[neutral] = body[field_name]
    config["audio"] = {"input": audio_in}
    baked = _baked(default, config)
    key = keys.issue(prefix, BETA_SECONDS, "gpt-4o-transcribe", "transcription", baked)
    answer = {
        "id": config["id"],
        "object": "realtime.transcription_session",
        "expires_at": config["expires_at"],
        "client_secret": {"value": key.value, "expires_at": key.expires_at},
        "input_audio_format": body.get("input_audio_format", "pcm16"),
        "input_audio_transcription": audio_in.get("transcription"),
        "input_audio_noise_reduction": audio_in.get("noise_reduction"),
        "turn_detection": audio_in.get("turn_detection"),
        "modalities": body.get("modalities", ["text"]),
        "include": body.get("include"),
    }
    return json_response(200, answer)
