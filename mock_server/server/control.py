"""The control API: a test suite in any language mounts its own scenario per test, connects its
client, and reads the verdict, over plain HTTP on the mock's own port (after WireMock's admin
API). ``docs/control-api.openapi.yaml`` documents every route of :data:`ROUTES`.

:class:`ControlApi` answers everything under ``/_mock/`` (:meth:`ControlApi.attach` registers
it on a :class:`~mock_server.server.MockServer`). It answers only clients on this machine
(loopback) unless it was made with ``remote=True`` and a token; with a token, every request
carries it (``Authorization: Bearer TOKEN``). Browsers' requests from other origins are refused
(a web page may not drive a developer's mock). Errors have the OpenAI error body, with a
message saying what and where. Everything it keeps is bounded: the mounts
(:data:`MAX_MOUNTS`), each mount's ended connections, the journal, a request's body.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit, urlunsplit

from websockets.http11 import Response

from mock_server.protocol.http import HttpRequest, json_response, openai_error
from mock_server.server import warm
from mock_server.server.connection import Connection
from mock_server.server.control_access import ControlAccess, is_loopback
from mock_server.server.control_errors import PREFIX_ROOT, ControlError
from mock_server.server.control_views import (
    DEFAULT_PAGE,
    JOURNAL_SIZE,
    MAX_PAGE,
    Journal,
    connection_summary,
    transcript_page,
)
from mock_server.server.server import MockServer
from mock_server.units import parse_duration

if TYPE_CHECKING:
    from mock_server.server.control_mounts import ControlMount

log = logging.getLogger("realtime_mock")

CONTROL_PREFIX = "/_mock/"
# A scenario file's bound, and room for the JSON around it.
# A scenario file's bound (yaml_source.MAX_FILE_BYTES, checked equal by the tests) and room.
MAX_BODY_BYTES = 4 * 1024 * 1024 + 64 * 1024
MAX_MOUNTS = 256


@dataclass(frozen=True)
class Route:
    """One route: its method, its path (``{id}`` stands for one segment), its handler's name."""

    method: str
    path: str
    handler: str

    def matches(self, path: str) -> dict[str, str] | None:
        want, got = self.path.strip("/").split("/"), path.strip("/").split("/")
        if len(want) != len(got):
            return None
        params = {}
        for pattern, part in zip(want, got, strict=True):
            if pattern.startswith("{"):
                if not part:
                    return None
                params[pattern[1:-1]] = part
            elif pattern != part:
                return None
        return params


ROUTES = (
    Route("GET", "/_mock/mounts", "_list"),
    Route("POST", "/_mock/mounts", "_create"),
    Route("GET", "/_mock/mounts/{id}", "_show"),
    Route("DELETE", "/_mock/mounts/{id}", "_delete"),
    Route("GET", "/_mock/mounts/{id}/verdict", "_verdict"),
    Route("GET", "/_mock/mounts/{id}/connections", "_connections"),
    Route("GET", "/_mock/mounts/{id}/transcript", "_transcript"),
    Route("POST", "/_mock/reset", "_reset"),
    Route("GET", "/_mock/journal", "_journal"),
)


class ControlApi:
    """The ``/_mock/`` routes of one server.

    Example::

        async with MockServer(port=0) as server:
            ControlApi(server).attach()
            # POST http://127.0.0.1:PORT/_mock/mounts {"library": "text_turn"}
    """

    def __init__(
        self,
        server: MockServer,
        *,
        token: str | None = None,
        remote: bool = False,
        journal_size: int = JOURNAL_SIZE,
    ) -> None:
        self.server = server
        self.access = ControlAccess(token, remote)
        self.mounts: dict[str, ControlMount] = {}
        self.journal = Journal(journal_size)
        self._numbers = itertools.count(1)

    def attach(self) -> ControlApi:
        """Serve the routes on the server, and keep the journal of its connections."""
        self.server.http_routes.add(CONTROL_PREFIX, self.handle)
        warm.also("mock_server.server.control_mounts")  # the scenario machinery, off the loop
        previous = self.server.on_connection_end

        def ended(connection: Connection) -> None:
            self.connection_ended(connection)
            if previous is not None:
                previous(connection)

        self.server.on_connection_end = ended
        return self

    # ---- the one entry -------------------------------------------------------------------

    async def handle(self, request: HttpRequest) -> Response:
        """The answer to one request under ``/_mock/``; never raises."""
        try:
            self.access.admit(request)
            route, params = self._route(request)
            handler: Callable[..., Awaitable[Response]] = getattr(self, route.handler)
            return await handler(request, **params)
        except ControlError as error:
            return _error(error)
        except Exception as exc:  # a bug of ours: said, never a dropped connection
            log.exception("realtime-mock: the control API failed on %s", request.path)
            return openai_error(
                500, f"the control API failed: {type(exc).__name__}", type_="server_error"
            )

    def _route(self, request: HttpRequest) -> tuple[Route, dict[str, str]]:
        path = request.path
        found = [(r, p) for r in ROUTES if (p := r.matches(path)) is not None]
        if not found:
            known = ", ".join(sorted({f"{r.method} {r.path}" for r in ROUTES}))
            raise ControlError(404, f"no control route {path}; the routes: {known}")
        for route, params in found:
            if route.method == request.method:
                if request.method in ("POST", "PUT"):
                    _check_size(request)
                return route, params
        allow = tuple(sorted(r.method for r, _ in found))
        raise ControlError(
            405,
            f"{request.method} is not allowed on {path}: use {' or '.join(allow)}",
            code="method_not_allowed",
            allow=allow,
        )

    # ---- mounts --------------------------------------------------------------------------

    async def _list(self, request: HttpRequest) -> Response:
        return json_response(200, {"mounts": [self._describe(m) for m in self.mounts.values()]})

    async def _create(self, request: HttpRequest) -> Response:
        if len(self.mounts) >= MAX_MOUNTS:
            raise ControlError(
                409,
                f"{MAX_MOUNTS} mounts are served already: DELETE /_mock/mounts/{{id}} the "
                "finished ones, or POST /_mock/reset",
                code="too_many_mounts",
            )
        # The scenario machinery loads with the first mount posted (see control_errors.py).
        from mock_server.server.control_mounts import (
            ControlMount,
            fixtures_folder,
            read_mount_request,
        )

        folder = fixtures_folder(request, is_loopback(request.peer))
        # Reading a scenario (up to 4 MiB of YAML) takes a while: not on the sessions' loop.
        asked = await asyncio.to_thread(read_mount_request, request, folder)
        if asked.id is not None and asked.id in self.mounts:
            raise ControlError(
                409, f"a mount {asked.id!r} exists: DELETE it first", param="id", code="exists"
            )
        mount_id = asked.id or self._new_id()
        mounted = ControlMount.serve(mount_id, asked)
        self.server.mount(mounted.mount)
        self.mounts[mount_id] = mounted
        return json_response(201, self._describe(mounted, request))

    def _new_id(self) -> str:
        while True:
            candidate = f"m{next(self._numbers)}"
            if candidate not in self.mounts:
                return candidate

    def _mounted(self, id: str) -> ControlMount:
        mounted = self.mounts.get(id)
        if mounted is None:
            known = ", ".join(self.mounts) or "none"
            raise ControlError(
                404, f"no mount {id!r} (the mounts: {known})", param="id", code="not_found"
            )
        return mounted

    async def _show(self, request: HttpRequest, id: str) -> Response:
        return json_response(200, self._describe(self._mounted(id), request))

    async def _delete(self, request: HttpRequest, id: str) -> Response:
        mounted = self._mounted(id)
        self.server.unmount(mounted.mount.prefix)
        del self.mounts[id]
        verdict = mounted.verdict(self._connections_of(mounted))
        return json_response(200, {"id": id, "deleted": True, "verdict": verdict.to_dict()})

    async def _reset(self, request: HttpRequest) -> Response:
        deleted = len(self.mounts)
        for mounted in self.mounts.values():
            self.server.unmount(mounted.mount.prefix)
        self.mounts.clear()
        self.journal.clear()
        return json_response(200, {"deleted": deleted})

    def _describe(
        self, mounted: ControlMount, request: HttpRequest | None = None
    ) -> dict[str, Any]:
        prefix = mounted.mount.prefix
        secure = self.server.tls_port is not None
        host = None
        if request is not None and not is_loopback(request.peer):
            host = urlsplit(f"//{request.headers.get('Host', '')}").hostname
        return {
            "id": mounted.id,
            "prefix": prefix,
            "scenario": mounted.served.scenario.name if mounted.scripted else None,
            "ws_url": self._url(prefix, "ws", host),
            "base_url": self._url(prefix, "http", host),
            "wss_url": self._url(prefix, "wss", host) if secure else None,
            "https_base_url": self._url(prefix, "https", host) if secure else None,
            "connections": len(self._connections_of(mounted)),
        }

    def _url(self, prefix: str, scheme: str, host: str | None) -> str:
        url = self.server.url_for(prefix, scheme=scheme)
        if host is None:  # the server's own address serves this machine
            return url
        parts = urlsplit(url)
        netloc = f"[{host}]" if ":" in host else host
        return urlunsplit(parts._replace(netloc=f"{netloc}:{parts.port}"))

    # ---- what happened -------------------------------------------------------------------

    def _connections_of(self, mounted: ControlMount) -> list[Connection]:
        return mounted.connections(list(self.server.connections))

    async def _verdict(self, request: HttpRequest, id: str) -> Response:
        mounted = self._mounted(id)
        wait = _query_value(request, "wait", parse_duration)
        settled = await mounted.settle(lambda: list(self.server.connections), wait)
        verdict = mounted.verdict(self._connections_of(mounted))
        return json_response(200, {"id": id, "settled": settled, **verdict.to_dict()})

    async def _connections(self, request: HttpRequest, id: str) -> Response:
        mounted = self._mounted(id)
        summaries = [connection_summary(c, id) for c in self._connections_of(mounted)]
        return json_response(200, {"id": id, "connections": summaries})

    async def _transcript(self, request: HttpRequest, id: str) -> Response:
        mounted = self._mounted(id)
        number = _query_value(request, "connection", _count)
        offset = _query_value(request, "offset", _count) or 0
        limit = _query_value(request, "limit", _count)
        limit = DEFAULT_PAGE if limit is None else limit
        if not 1 <= limit <= MAX_PAGE:
            raise ControlError(400, f"limit is 1 to {MAX_PAGE}", param="limit")
        connections = self._connections_of(mounted)
        if number is not None:
            connections = [c for c in connections if c.number == number]
            if not connections:
                raise ControlError(
                    404, f"mount {id!r} has no connection {number}", param="connection"
                )
        pages = [transcript_page(c, offset, limit) for c in connections]
        return json_response(200, {"id": id, "connections": pages})

    async def _journal(self, request: HttpRequest) -> Response:
        limit = _query_value(request, "limit", _count)
        entries = self.journal.entries(limit)
        return json_response(
            200,
            {
                "capacity": self.journal.capacity,
                "dropped": self.journal.dropped,
                "entries": entries,
            },
        )

    def connection_ended(self, connection: Connection) -> None:
        """Note an ended connection: in the journal, and with its mount's if it has one."""
        prefix = connection.mount.prefix
        mount_id = prefix[len(PREFIX_ROOT) + 1 :] if prefix.startswith(PREFIX_ROOT + "/") else None
        mounted = self.mounts.get(mount_id) if mount_id else None
        if mounted is not None and mounted.mount is connection.mount:
            mounted.ended.append(connection)
        self.journal.record(connection, mount_id)


def _check_size(request: HttpRequest) -> None:
    declared = request.headers.get("Content-Length", "0")
    size = max(len(request.body), int(declared) if declared.isdigit() else 0)
    if size > MAX_BODY_BYTES:
        raise ControlError(
            413,
            f"the body has {size} bytes; the control API takes {MAX_BODY_BYTES} at most "
            "(a scenario is 4 MiB at most: keep audio in WAV fixtures)",
            code="body_too_large",
        )


def _count(text: str) -> int:
    if not text.isdigit():
        raise ValueError("a whole number, 0 or more")
    return int(text)


def _query_value(request: HttpRequest, name: str, parse: Callable[[str], Any]) -> Any:
    values = request.query.get(name)
    if not values:
        return None
    try:
        return parse(values[-1])
    except ValueError as exc:
        raise ControlError(
            400, f"query parameter {name}={values[-1]!r}: {exc}", param=name
        ) from None


def _error(error: ControlError) -> Response:
    headers = [("Allow", ", ".join(error.allow))] if error.allow else []
    if error.status == 401:
        headers.append(("WWW-Authenticate", 'Bearer realm="realtime-mock control"'))
    response = openai_error(
        error.status, error.message, code=error.code, param=error.param, headers=headers
    )
    if error.problems:
        body = json.loads(response.body)
        body["error"]["problems"] = error.problems
        return json_response(error.status, body, headers)
    return response
