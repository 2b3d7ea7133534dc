"""The HTTP side of the Realtime API: refusals with the OpenAI error body, and what a handshake's
headers carry (the key, the dialect, the subprotocols), read the way the live service reads them.

Shared by the server, which decides a handshake, and by the relay, which forwards one: neither
imports the other.
"""

from __future__ import annotations

import http
import json
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qs

from websockets.datastructures import Headers
from websockets.exceptions import InvalidHeader
from websockets.headers import parse_subprotocol
from websockets.http11 import Response

from mock_server.redaction import redact_text

BETA_SUBPROTOCOL = "openai-beta.realtime-v1"
KEY_SUBPROTOCOL = "openai-insecure-api-key."
# Azure's two forms: the legacy ?api-version=...&deployment=... and the v1 ?model=<deployment>.
AZURE_LEGACY = "/openai/realtime"
AZURE_V1 = "/openai/v1/realtime"
AZURE_SUFFIXES = (AZURE_LEGACY, AZURE_V1)
# The realtime paths under a mount's prefix, the longest first (Azure's v1 ends like OpenAI's).
REALTIME_SUFFIXES = (AZURE_V1, "/v1/realtime", AZURE_LEGACY)


@dataclass(frozen=True)
class HttpRequest:
    """One plain HTTP request (not a WebSocket upgrade), as the server's HTTP routes see it.

    ``target`` is the request target as sent (path and query); ``peer`` the client's address.
    """

    method: str
    target: str
    headers: Headers
    body: bytes = b""
    peer: str | None = None
    secure: bool = False

    @property
    def path(self) -> str:
        return self.target.split("?", 1)[0]

    @property
    def query(self) -> dict[str, list[str]]:
        return parse_qs(self.target.split("?", 1)[1]) if "?" in self.target else {}


# A route of the server's HTTP side: answers one request (see MockServer.add_http_route).
HttpHandler = Callable[[HttpRequest], Awaitable[Response]]

_STATUS_CLASSES = {1: "Informational", 2: "Success", 3: "Redirection", 4: "Client Error"}


def reason_phrase(status: int) -> str:
    """The HTTP reason phrase of ``status``; one by its class for codes the standard leaves
    unnamed (a scenario may refuse with 499 or 599).

    >>> reason_phrase(429), reason_phrase(499), reason_phrase(599)
    ('Too Many Requests', 'Client Error', 'Server Error')
    """
    try:
        return http.HTTPStatus(status).phrase
    except ValueError:
        return _STATUS_CLASSES.get(status // 100, "Server Error")


def json_response(
    status: int, body: dict[str, Any], extra: Iterable[tuple[str, str]] = ()
) -> Response:
    data = json.dumps(body, indent=2).encode() + b"\n"
    headers = Headers(
        [("Content-Type", "application/json"), ("Content-Length", str(len(data))), *extra]
    )
    return Response(status, reason_phrase(status), headers, data)


def openai_error(
    status: int,
    message: str,
    *,
    code: str | None = None,
    type_: str = "invalid_request_error",
    param: str | None = None,
    headers: Iterable[tuple[str, str]] = (),
) -> Response:
    """An HTTP refusal with the body the OpenAI API sends."""
    body = {"error": {"message": message, "type": type_, "param": param, "code": code}}
    return json_response(status, body, headers)


def mask_key(key: str) -> str:
    return f"{key[:3]}{'*' * 4}{key[-4:]}" if len(key) > 8 else "****"


def split_realtime_path(path: str) -> tuple[str, str] | None:
    """``(mount prefix, suffix)`` for a realtime path, None for any other path.

    >>> split_realtime_path("/v1/realtime")
    ('', '/v1/realtime')
    >>> split_realtime_path("/t/test_42/openai/realtime/")
    ('/t/test_42', '/openai/realtime')
    >>> split_realtime_path("/openai/v1/realtime")
    ('', '/openai/v1/realtime')
    >>> split_realtime_path("/v1/chat") is None
    True
    """
    path = path.rstrip("/") or "/"
    for suffix in REALTIME_SUFFIXES:
        if path.endswith(suffix):
            return path[: -len(suffix)], suffix
    return None


def offered_subprotocols(headers: Headers) -> list[str]:
    """The subprotocols a client offered (browsers carry the key and the dialect there)."""
    offered = ",".join(headers.get_all("Sec-WebSocket-Protocol")).split(",")
    return [p.strip() for p in offered if p.strip()]


def presented_key(headers: Headers) -> str | None:
    """The API key a handshake carries: Bearer, Azure's api-key, or the browser subprotocol."""
    authorization = headers.get("Authorization", "")
    if authorization.lower().startswith("bearer "):
        return authorization[7:].strip() or None
    if headers.get("api-key"):
        return headers["api-key"].strip() or None
    for protocol in offered_subprotocols(headers):
        if protocol.startswith(KEY_SUBPROTOCOL):
            return protocol[len(KEY_SUBPROTOCOL) :] or None
    return None


def subprotocol_problem(headers: Headers) -> str | None:
    """What is wrong with the offered subprotocols, if anything (key redacted), else None.

    websockets refuses such a handshake itself, but quotes the whole header, the browser's key
    subprotocol included, in its answer and its log; the mock says it first, without the key.
    """
    for value in headers.get_all("Sec-WebSocket-Protocol"):
        try:
            parse_subprotocol(value)
        except InvalidHeader as exc:
            return redact_text(str(exc))
    return None


def asks_for_beta(headers: Headers) -> bool:
    """Whether a handshake asks for the beta dialect (header or browser subprotocol)."""
    beta_header = headers.get("OpenAI-Beta", "").replace(" ", "") == "realtime=v1"
    return beta_header or BETA_SUBPROTOCOL in offered_subprotocols(headers)


def error_fields(body: bytes | None) -> dict[str, Any]:
    """The ``message``, ``code`` and ``type`` of an OpenAI error body; {} for any other body.

    >>> error_fields(b'{"error": {"message": "Slow down", "code": "rate_limit_exceeded"}}')
    {'message': 'Slow down', 'code': 'rate_limit_exceeded', 'type': None}
    >>> error_fields(b"<html>busy</html>")
    {}
    """
    try:
        error = json.loads(body or b"").get("error")
    except (ValueError, AttributeError):
        return {}
    if not isinstance(error, dict):
        return {}
    return {k: error.get(k) for k in ("message", "code", "type")}
