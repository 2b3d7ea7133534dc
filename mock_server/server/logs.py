"""websockets' log of the mock's handshakes, made one key-free line per failure or refusal.

The server's listeners log through :data:`WEBSOCKETS_LOG`, whose filter rewrites each record;
the records propagate to websockets' usual logger name, so configuring logging works as
websockets documents.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path

from websockets.exceptions import ConnectionClosed, InvalidHandshake
from websockets.http11 import Request, Response
from websockets.protocol import State

from mock_server.redaction import redact_headers, redact_text


class _HandshakeLog(logging.Filter):
    """Keeps websockets' log of the mock's connections to one key-free line per failure.

    websockets logs a failed opening handshake (a malformed request, a client gone before the
    answer) as a traceback whose exception may quote a header, the browser's key subprotocol
    included; a refused one as "connection rejected (401 Unauthorized)", which does not say
    why. Each becomes one line naming what happened; every line is redacted, and headers are
    too when debug logging prints them.
    """

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            return self._rewrite(record)
        except Exception:  # a log line must never break a connection: keep it, minus its args
            record.msg, record.args = redact_text(str(record.msg)), ()
            record.exc_info, record.exc_text = None, None
            return True

    def _rewrite(self, record: logging.LogRecord) -> bool:
        connection = getattr(record, "websocket", None)
        lost = record.msg == "unexpected internal error" and _handshake_lost(connection)
        if record.exc_info and lost:
            # websockets' assertion when it answers a client already gone: the "handshake
            # failed" line that follows says it.
            return False
        if record.exc_info and record.msg != "connection handler failed":
            exc = record.exc_info[1]
            what = "handshake failed" if record.msg == "opening handshake failed" else record.msg
            record.msg, record.args = (
                f"realtime-mock: {what}%s: %s",
                (
                    _peer(connection),
                    _what_failed(exc),
                ),
            )
            record.exc_info, record.exc_text = None, None
            record.levelno, record.levelname = logging.WARNING, "WARNING"
        elif record.msg == "connection rejected (%d %s)" and connection is not None:
            response = getattr(connection, "response", None)
            why = _refusal_reason(response) if isinstance(response, Response) else ""
            record.msg = "realtime-mock: handshake refused%s: %d %s%s"
            record.args = (_peer(connection), *tuple(record.args or ()), why)
        elif record.msg in ("< %s: %s", "> %s: %s") and isinstance(record.args, tuple):
            name, value = (str(a) for a in record.args)
            record.args = redact_headers([(name, value)])[0]
        elif record.args:
            record.msg, record.args = redact_text(record.getMessage()), ()
        return True


def _handshake_lost(connection: object) -> bool:
    protocol = getattr(connection, "protocol", None)
    return protocol is not None and getattr(protocol, "state", None) is State.CLOSED


def _peer(connection: object) -> str:
    """`` from 127.0.0.1:5555 (GET /v1/realtime)``: who, and which path (no query: keys)."""
    if connection is None:
        return ""
    try:
        address = connection.remote_address  # type: ignore[attr-defined]
        where = f" from {address[0]}:{address[1]}" if address else ""
    except Exception:  # a transport already gone has no address
        where = ""
    request = getattr(connection, "request", None)
    if isinstance(request, Request):
        where += f" (GET {redact_text(request.path.split('?', 1)[0])[:200]})"
    return where


def _what_failed(exc: BaseException | None) -> str:
    """An exception, its causes, and where it was raised, as one redacted line."""
    if exc is None:
        return "unknown error"
    if isinstance(exc, ConnectionClosed | EOFError):
        return "the client left before the handshake was answered"
    parts: list[str] = []
    seen: BaseException | None = exc
    while seen is not None and len(parts) < 4:
        parts.append(f"{type(seen).__name__}: {seen}" if str(seen) else type(seen).__name__)
        seen = seen.__cause__
    tb = exc.__traceback__
    while tb is not None and tb.tb_next is not None:
        tb = tb.tb_next
    if tb is not None and not isinstance(exc, InvalidHandshake):  # a bug: say where
        parts.append(f"at {Path(tb.tb_frame.f_code.co_filename).name}:{tb.tb_lineno}")
    return redact_text("; ".join(parts))[:500]


def _refusal_reason(response: Response) -> str:
    try:
        error = json.loads(response.body or b"").get("error") or {}
        code, message = error.get("code"), str(error.get("message") or "")
    except (ValueError, AttributeError):
        return ""
    return redact_text(f" ({code}) {message}" if code else f" {message}")[:300]


# websockets' records of the mock's connections go through this logger (and its filter); they
# propagate to websockets' usual name, so configuring logging works as websockets documents.
WEBSOCKETS_LOG = logging.getLogger("websockets.server.realtime_mock")
WEBSOCKETS_LOG.addFilter(_HandshakeLog())
