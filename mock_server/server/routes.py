"""The server's plain HTTP side: routes by path prefix, beside the WebSocket endpoint on one port.

The control API registers here. The front (:mod:`~mock_server.server.front`) hands a route
every plain request under its prefix, of any method, with its body; a WebSocket upgrade never
reaches a route.
"""

from __future__ import annotations

from mock_server.protocol.http import HttpHandler


class HttpRoutes:
    """Handlers by path prefix; the longest matching prefix wins."""

    def __init__(self) -> None:
        self._routes: dict[str, HttpHandler] = {}
        self._exact: dict[str, HttpHandler] = {}

    def add(self, prefix: str, handler: HttpHandler, *, exact: bool = False) -> None:
        """Route paths starting with ``prefix`` (with ``exact``, that path only: an exact
        route wins over every prefix)."""
        (self._exact if exact else self._routes)[prefix] = handler

    def find(self, path: str) -> HttpHandler | None:
        """The handler for ``path`` (without its query), or None.

        >>> routes = HttpRoutes()
        >>> async def a(request): ...
        >>> async def b(request): ...
        >>> routes.add("/_mock/", a); routes.add("/_mock/mounts", b)
        >>> routes.find("/_mock/mounts/1") is b, routes.find("/_mock/reset") is a
        (True, True)
        >>> routes.find("/v1/realtime") is None
        True
        >>> routes.add("/_mock/", b, exact=True)
        >>> routes.find("/_mock/") is b, routes.find("/_mock/x") is a
        (True, True)
        """
        if path in self._exact:
            return self._exact[path]
        matches = [prefix for prefix in self._routes if path.startswith(prefix)]
        return self._routes[max(matches, key=len)] if matches else None
