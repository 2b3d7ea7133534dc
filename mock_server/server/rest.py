"""The answer to every plain HTTP request (not a WebSocket upgrade) the front reads.

In order: ``/healthz``; a route of the server's :class:`~mock_server.server.routes.HttpRoutes`
(the control API); the REST side of Realtime under a mount's prefix (client secrets, the
beta-era sessions, see :mod:`~mock_server.server.ephemeral`); a GET on a realtime path gets the
426 that says how to connect; anything else the OpenAI 404, or 405 for a path known under
another method.
"""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING

from websockets.http11 import Request, Response

from mock_server.protocol.http import (
    HttpRequest,
    json_response,
    openai_error,
    presented_key,
    split_realtime_path,
)
from mock_server.server.ephemeral import create, is_ephemeral
from mock_server.server.handshake import Refuse, key_refusal, select

if TYPE_CHECKING:
    from mock_server.server.server import MockServer

# The REST endpoints of Realtime, under a mount's prefix, with the one method each takes.
REST_SUFFIXES = (
    "/v1/realtime/client_secrets",
    "/v1/realtime/sessions",
    "/v1/realtime/transcription_sessions",
)


async def answer(server: MockServer, request: HttpRequest) -> Response:
    """What ``server`` answers the plain HTTP ``request``."""
    path = request.path.rstrip("/") or "/"
    if path == "/healthz":
        if request.method not in ("GET", "HEAD"):
            return _not_allowed(request, "GET")
        return json_response(200, {"status": "ok", "mounts": sorted(server.mounts)})
    route = server.http_routes.find(request.path)
    if route is not None:
        return await route(request)
    rest = _rest_endpoint(path)
    if rest is not None and rest[0] in server.mounts:
        if request.method != "POST":
            return _not_allowed(request, "POST")
        return await _create(server, *rest, request)
    if split_realtime_path(path) is not None:
        if request.method not in ("GET", "HEAD"):
            return _not_allowed(request, "GET")
        # Not an upgrade (those never come here): select says where to connect instead.
        selected = select(
            Request(request.target, request.headers), server.mounts, origin=server.url_for(path="")
        )
        if isinstance(selected, Refuse):
            return selected.response
    return openai_error(404, f"Invalid URL ({request.method} {request.path[:200]})")


async def _create(server: MockServer, prefix: str, suffix: str, request: HttpRequest) -> Response:
    """A client secret (or a beta-era session): the mount's policy and delay, the key, then
    :func:`~mock_server.server.ephemeral.create`."""
    mount = server.mounts[prefix]
    traffic = server.traffic(prefix)
    traffic.rest_requests += 1
    attempt = traffic.rest_requests
    if mount.rest_delay is not None:
        delay = mount.rest_delay(attempt)
        if delay > 0:
            await asyncio.sleep(delay)
    if mount.rest_policy is not None:
        refusal = mount.rest_policy(attempt, request)
        if refusal is not None:
            return refusal
    key = presented_key(request.headers)
    if is_ephemeral(key):
        return openai_error(
            401,
            "An ephemeral key cannot create client secrets: your backend asks for them with a "
            "standard API key (Authorization: Bearer sk-...).",
            code="invalid_api_key",
        )
    refusal = key_refusal(mount, key, {})
    if refusal is not None:
        return refusal
    return create(server.ephemeral_keys, prefix, suffix, request)


def _rest_endpoint(path: str) -> tuple[str, str] | None:
    for suffix in REST_SUFFIXES:
        if path.endswith(suffix):
            return path[: -len(suffix)], suffix
    return None


def _not_allowed(request: HttpRequest, allowed: str) -> Response:
    return openai_error(
        405,
        f"Method not allowed: {request.method} {request.path[:200]} accepts {allowed} only.",
        headers=[("Allow", allowed)],
    )
