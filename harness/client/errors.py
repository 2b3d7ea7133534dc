"""What goes wrong for the reference client, and how it tells a session's end from a failure.

A 401 is an :class:`AuthenticationError` that says what to do; other refusals at the handshake
(after the backoff gave up) a :class:`HandshakeRefused`; an error or close during the session a
:class:`SessionError`. A close 1001 stays a ``ConnectionClosed``: the session reached its
maximum duration, and the client reconnects.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from websockets.exceptions import ConnectionClosed

# Errors that end the session whatever event they answer.
FATAL_CODES = frozenset({"session_expired", "missing_model", "beta_api_shape_disabled"})


class ClientError(Exception):
    """Base of the reference client's errors."""


class AuthenticationError(ClientError):
    """The server refused the key (HTTP 401)."""


class HandshakeRefused(ClientError):
    """The server refused the connection and retrying did not help."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(f"HTTP {status}: {message}")
        self.status = status


class CallRefused(ClientError):
    """A WebRTC offer was refused: ``status``, the OpenAI error body, the response headers."""

    def __init__(
        self, status: int, body: dict[str, Any], headers: Mapping[str, str] | None = None
    ) -> None:
        self.status = status
        self.body = body
        self.headers: Mapping[str, str] = headers or {}
        error = body.get("error") or {}
        super().__init__(f"HTTP {status}: {error.get('message', body)}")


class SessionError(ClientError):
    """The server sent an ``error`` event the client cannot recover from."""


def closed_error(closed: ConnectionClosed) -> Exception:
    """1001 (the session's end) stays a ConnectionClosed, to reconnect; any other close is an
    error that says what the server said."""
    if closed.rcvd is not None and closed.rcvd.code == 1001:
        return closed
    if closed.rcvd is None:
        return SessionError("the connection was cut without a close frame")
    return SessionError(f"the server closed the session: {closed.rcvd.code} {closed.rcvd.reason}")


def session_ended(exc: Exception) -> bool:
    if isinstance(exc, ConnectionClosed):
        return exc.rcvd is not None and exc.rcvd.code == 1001
    return "session_expired" in str(exc)


def retry_after(value: str | None) -> float | None:
    if value is None:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        return None


def error_message(body: bytes | None) -> str:
    if not body:
        return ""
    try:
        return str(json.loads(body)["error"]["message"])
    except (ValueError, KeyError, TypeError):
        return body.decode(errors="replace")[:200]
