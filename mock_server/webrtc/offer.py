"""The HTTP side of WebRTC: ``POST /v1/realtime/calls`` (and the beta-era ``POST /v1/realtime``
with an SDP body), under any mount's prefix.

The offer comes raw (``Content-Type: application/sdp``, the browser's form with an ephemeral
key) or as a multipart form of ``sdp`` and ``session`` (JSON, the session's configuration; a
backend's form with its standard key). It is read as the handshake a WebSocket would make to
the same mount (``MockServer.admit``: the scenario's ``handshake:`` and ``connections:``, the
key, the session limit, the model), so it is refused the same way, in the OpenAI error shape.
Accepted, the answer is the peer's SDP, ``201``, with ``Location: /v1/realtime/calls/rtc_...``.
aiortc is imported only here, once an offer comes.
"""

from __future__ import annotations

import asyncio
import dataclasses
import json
import secrets
from email.message import Message
from email.parser import BytesParser
from email.policy import HTTP
from typing import TYPE_CHECKING, Any

from websockets.datastructures import Headers
from websockets.http11 import Request, Response

from mock_server.protocol.http import HttpRequest, openai_error, reason_phrase
from mock_server.server.connection import Connection
from mock_server.server.handshake import Accept
from mock_server.server.mount import MountTraffic

if TYPE_CHECKING:
    from mock_server.server.server import MockServer

CALLS_SUFFIX = "/v1/realtime/calls"
MAX_SDP_BYTES = 64 * 1024
# A page on any origin may POST its offer (the live API answers so) and read the call's id.
CORS = (
    ("Access-Control-Allow-Origin", "*"),
    ("Access-Control-Allow-Methods", "POST, OPTIONS"),
    ("Access-Control-Allow-Headers", "Authorization, Content-Type, OpenAI-Beta"),
    ("Access-Control-Expose-Headers", "Location"),
    ("Access-Control-Max-Age", "600"),
)


async def answer_offer(server: MockServer, request: HttpRequest) -> Response:
    """The answer to an offer (or the refusal), readable by a page on any origin."""
    response = await _answer(server, request)
    for name, value in CORS:
        if name not in response.headers:
            response.headers[name] = value
    return response


async def _answer(server: MockServer, request: HttpRequest) -> Response:
    path = request.path.rstrip("/")
    if request.method == "OPTIONS":  # a page's preflight: the live API lets any origin call
        return Response(204, reason_phrase(204), Headers([("Content-Length", "0")]), b"")
    if request.method != "POST":
        return openai_error(
            405,
            f"Method not allowed: {request.method} {path[:200]} accepts POST (an SDP offer).",
            headers=[("Allow", "POST")],
        )
    read = _read_offer(request)
    if isinstance(read, Response):
        return read
    sdp, session_config = read
    base = path[: -len("/calls")] if path.endswith(CALLS_SUFFIX) else path
    headers = Headers(
        [(k, v) for k, v in request.headers.raw_items() if k.lower() != "content-type"]
    )
    headers["Upgrade"] = "websocket"  # read as the handshake a WebSocket would make
    query = request.target.split("?", 1)[1] if "?" in request.target else ""
    admitted = await server.admit(Request(base + (f"?{query}" if query else ""), headers))
    if isinstance(admitted, Response):
        return admitted
    decision, traffic = admitted
    if not isinstance(decision, Accept):
        return openai_error(501, "realtime-mock relays WebSockets only, not WebRTC calls.")
    if decision.refusal is not None:  # refused in-band on a WebSocket; here before the call
        code, message = decision.refusal
        return openai_error(400, message, code=code)
    return await _start_call(server, decision, traffic, sdp, session_config)


async def _start_call(
    server: MockServer,
    decision: Accept,
    traffic: MountTraffic,
    sdp: str,
    config: dict[str, Any] | None,
) -> Response:
    from mock_server.webrtc.call import Call

    conn = Connection.accepted(decision)
    if config:  # the backend's session configuration, over the mount's
        overrides = {**conn.mount.session_overrides, **config}
        conn.mount = dataclasses.replace(conn.mount, session_overrides=overrides)
    call_id = f"rtc_{secrets.token_hex(12)}"
    call = Call(server, call_id, conn)
    try:
        answer = await call.answer(sdp)
    except Exception as exc:  # aiortc's ValueError and friends: the offer was not usable
        await call.end(1000, "offer refused")
        return openai_error(400, f"Invalid SDP offer: {exc}", code="invalid_offer", param="sdp")
    server.calls[call_id] = call
    call.task = asyncio.ensure_future(server.run_connection(conn, traffic, call.run()))
    data = answer.encode()
    headers = Headers(
        [
            ("Content-Type", "application/sdp"),
            ("Content-Length", str(len(data))),
            ("Location", f"{CALLS_SUFFIX}/{call_id}"),
        ]
    )
    return Response(201, reason_phrase(201), headers, data)


def _read_offer(request: HttpRequest) -> tuple[str, dict[str, Any] | None] | Response:
    ctype = request.headers.get("Content-Type", "")
    body = request.body
    if len(body) > MAX_SDP_BYTES:
        return openai_error(400, f"The SDP offer is over {MAX_SDP_BYTES} bytes.", param="sdp")
    config: dict[str, Any] | None = None
    if ctype.lower().startswith("application/sdp"):
        sdp = body.decode("utf-8", "replace")
    elif ctype.lower().startswith("multipart/form-data"):
        fields = _form_fields(ctype, body)
        if "sdp" not in fields:
            return openai_error(
                400, "Missing required form field 'sdp' (the SDP offer).", param="sdp"
            )
        sdp = fields["sdp"]
        if "session" in fields:
            try:
                config = json.loads(fields["session"])
            except ValueError as exc:
                return openai_error(
                    400, f"Invalid form field 'session': not JSON ({exc}).", param="session"
                )
            if not isinstance(config, dict):
                return openai_error(
                    400, "Invalid form field 'session': expected a JSON object.", param="session"
                )
    else:
        return openai_error(
            400,
            f"Unsupported Content-Type {ctype[:100]!r}: send the SDP offer as application/sdp, "
            "or a multipart/form-data form with the fields 'sdp' and 'session'.",
        )
    if not sdp.startswith("v=0"):
        return openai_error(
            400, "Invalid SDP offer: an SDP description starts with 'v=0'.", param="sdp"
        )
    return sdp, config


def _form_fields(ctype: str, body: bytes) -> dict[str, str]:
    head = f"Content-Type: {ctype}\r\nMIME-Version: 1.0\r\n\r\n".encode()
    message: Message = BytesParser(policy=HTTP).parsebytes(head + body)
    fields: dict[str, str] = {}
    if not message.is_multipart():
        return fields
    for part in message.iter_parts():  # type: ignore[attr-defined]
        name = part.get_param("name", header="content-disposition")
        if isinstance(name, str):
            payload = part.get_payload(decode=True) or b""
            fields[name] = payload.decode("utf-8", "replace")
    return fields
