"""What goes wrong for the reference client, and how it tells a session's end from a failure.

A 401 is an :class:`AuthenticationError` that says what to do; other refusals at the handshake
(after the backoff gave up) a :class:`HandshakeRefused`; an error or close during the session a
:class:`SessionError`. A close the openai SDK reconnects on stays a ``ConnectionClosed``, and
the client reconnects and replays: 1001 (the session's maximum duration), a connection cut
without a close frame (1006), 1011, 1012 and 1013.
"""

from __future__ import annotations

import json

from websockets.exceptions import ConnectionClosed

# The closes after which a new session is worth opening (the openai SDK's own list, less the
# codes a server never sends: 1005, 1015); a cut without a close frame (1006) is one too.
RECONNECT_CODES = frozenset({1001, 1011, 1012, 1013})

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


class SessionError(ClientError):
    """The server sent an ``error`` event the client cannot recover from."""


def closed_error(closed: ConnectionClosed) -> Exception:
    """A close to reconnect after stays a ConnectionClosed; any other close is an error that
    says what the server said."""
    if closed.rcvd is None or closed.rcvd.code in RECONNECT_CODES:
        return closed
    return SessionError(f"the server closed the session: {closed.rcvd.code} {closed.rcvd.reason}")


def session_ended(exc: Exception) -> bool:
    if isinstance(exc, ConnectionClosed):
        return exc.rcvd is None or exc.rcvd.code in RECONNECT_CODES
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
