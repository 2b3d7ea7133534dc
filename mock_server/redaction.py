"""Redaction: the one place that knows what a secret looks like and how it is removed.

A credential is recognised by where it sits (a header, query parameter, option or field whose
name says it holds one: :data:`SECRET_WORDS`) or by its shape (``sk-...``, ``ek_...``, whatever
follows ``Bearer `` or the browser's key subprotocol), and replaced by :data:`REDACTED`. The
transcript redacts handshakes with it, the relay its log lines, the recorder everything it
writes (:func:`redact_value`), the server its log, and ``run`` the command lines it reports.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from mock_server.server.connection import Connection

SECRET_HEADERS = frozenset({"authorization", "api-key", "cookie", "openai-api-key", "x-api-key"})
# Besides those: any header whose name says it carries a credential (Azure's
# Ocp-Apim-Subscription-Key, X-Auth-Token, Proxy-Authorization, Set-Cookie, X-Client-Secret...).
# The words that mark a name (header, query parameter, option, variable) as holding a secret.
SECRET_WORDS = r"key|token|secret|auth|cookie|passw|credential|signature"
_SECRET_NAME = re.compile(SECRET_WORDS, re.I)
SECRET_QUERY = frozenset({"api_key", "api-key", "key", "client_secret"})
_SUBPROTOCOL_KEY = "openai-insecure-api-key."
REDACTED = "<redacted>"
# sk-..., rk-..., sk_... and ek_... keys; not words that merely start with "sk" ("skateboard").
# Also whatever follows "Bearer " or the browser's key subprotocol, whatever its shape.
_KEY_PATTERN = re.compile(
    r"\b(?:sk|rk)[-_][A-Za-z0-9_\-]{8,}|\bek_[A-Za-z0-9_\-]{8,}"
    r"|(?<=openai-insecure-api-key\.)[^\s,;\"']+|(?<=[Bb]earer )[^\s,;\"'<]+"
)

# Every match contains one of these: text without any is left alone without running the pattern.
_TRIGGERS = ("k-", "k_", "earer ", "openai-insecure-api-key.")
_WINDOW = 64 * 1024


def is_secret_header(name: str) -> bool:
    """Whether a header (by its name) carries a credential, so its value is never kept.

    >>> [is_secret_header(n) for n in ("Authorization", "Ocp-Apim-Subscription-Key", "Accept")]
    [True, True, False]
    """
    lowered = name.lower()
    if lowered in ("sec-websocket-key", "sec-websocket-accept"):  # a nonce, not a credential
        return False
    return lowered in SECRET_HEADERS or _SECRET_NAME.search(name) is not None


def is_secret_query(name: str) -> bool:
    """Whether a query parameter (by its name) carries a credential: ``api_key``, ``token``...

    >>> [is_secret_query(n) for n in ("api_key", "access_token", "sig", "model", "intent")]
    [True, True, True, False, False]
    """
    lowered = name.lower()
    return lowered in SECRET_QUERY or lowered == "sig" or _SECRET_NAME.search(name) is not None


def redact_text(text: str, secrets: Iterable[str] = ()) -> str:
    """``text`` with every known secret and anything shaped like an OpenAI key replaced.

    >>> redact_text("Bearer sk-test-SECRET123", ["sk-test-SECRET123"])
    'Bearer <redacted>'
    >>> redact_text("skateboarding with ek_68a4ee1f0c5c")
    'skateboarding with <redacted>'
    >>> redact_text("realtime, openai-insecure-api-key.sk-SECRET, x")
    'realtime, openai-insecure-api-key.<redacted>, x'
    """
    for secret in secrets:
        if secret:
            text = text.replace(secret, REDACTED)
    if not any(trigger in text for trigger in _TRIGGERS):
        return text  # most text (all base64 audio) has nothing the pattern could match
    if len(text) <= _WINDOW:
        return _KEY_PATTERN.sub(REDACTED, text)
    # A long text in windows ending at whitespace, which no match spans: each regex call holds
    # the GIL for a few milliseconds only (a transcript is written in a thread beside the loop).
    # Searched with pos/endpos, not slices, so that lookbehinds still see the previous window.
    pieces, start, kept = [], 0, 0
    while start < len(text):
        end = start + _WINDOW
        if end < len(text):
            cut = max(text.rfind(c, start, end) for c in " \n\t")
            end = cut + 1 if cut > start else len(text)  # no whitespace: the rest at once
        for match in _KEY_PATTERN.finditer(text, start, end):
            pieces += [text[kept : match.start()], REDACTED]
            kept = match.end()
        start = end
    pieces.append(text[kept:])
    return "".join(pieces)


def _redact_value(value: str) -> str:
    # Keep the scheme of "Bearer <key>" (it says how the client authenticated).
    return f"{value.split(' ', 1)[0]} {REDACTED}" if " " in value.strip() else REDACTED


def redact_headers(headers: Iterable[tuple[str, str]]) -> list[tuple[str, str]]:
    out = []
    for name, value in headers:
        if name.lower() == "sec-websocket-protocol":
            value = ", ".join(redact_subprotocol(p.strip()) for p in value.split(","))
        elif is_secret_header(name):
            value = _redact_value(value)
        else:  # a key may still sit in any other header's value (a Referer with ?key=...)
            value = redact_text(value)
        out.append((name, value))
    return out


def redact_query(query: Mapping[str, str]) -> dict[str, str]:
    """A handshake's query with credentials (by name, or key-shaped values) redacted."""
    return {k: (REDACTED if is_secret_query(k) else redact_text(v)) for k, v in query.items()}


def redact_subprotocol(protocol: str) -> str:
    if protocol.startswith(_SUBPROTOCOL_KEY):
        return _SUBPROTOCOL_KEY + REDACTED
    return protocol


# Fields of an event that hold credentials by their name (``client_secret: {value: ek_...}``).
SECRET_FIELDS = frozenset({"client_secret", "api_key", "api-key", "authorization", "password"})


def redact_secret_fields(value: Any, secrets: Sequence[str] = ()) -> Any:
    """Fields that hold credentials by their name (``client_secret: {value: ek_...}``) emptied."""
    if isinstance(value, dict):
        out: dict[str, Any] = {}
        for key, item in value.items():
            if str(key).lower() in SECRET_FIELDS:
                out[key] = (
                    {**item, "value": REDACTED}
                    if isinstance(item, dict) and "value" in item
                    else REDACTED
                )
            else:
                out[key] = redact_secret_fields(item, secrets)
        return out
    if isinstance(value, list):
        return [redact_secret_fields(item, secrets) for item in value]
    return value


def redact_strings(value: Any, secrets: Sequence[str] = ()) -> Any:
    """Every string (keys too) with the connection's key values and key-shaped text replaced."""
    if isinstance(value, dict):
        return {redact_strings(k, secrets): redact_strings(v, secrets) for k, v in value.items()}
    if isinstance(value, list):
        return [redact_strings(item, secrets) for item in value]
    if isinstance(value, str):
        return redact_text(value, secrets)
    return value


def redact_value(value: Any, secrets: Sequence[str] = ()) -> Any:
    """A JSON-like value with secret fields emptied and secrets in any string replaced.

    >>> event = {"session": {"client_secret": {"value": "ek_abcdefgh1234"}}, "k": "sk-x1234567"}
    >>> redact_value(event)
    {'session': {'client_secret': {'value': '<redacted>'}}, 'k': '<redacted>'}
    """
    return redact_strings(redact_secret_fields(value, secrets), secrets)


def secrets_of(connection: Connection) -> tuple[str, ...]:
    """The keys a connection's records (transcript files, reports) must never show: its own,
    and a relayed connection's (the client's and the upstream's, the relay's to know)."""
    found = [connection.api_key or "", *(connection.relay.secrets if connection.relay else [])]
    return tuple(s for s in found if s)
