"""A :class:`MockServer` in a background thread, for sync code and pytest fixtures."""

from __future__ import annotations

import asyncio
import contextlib
import threading
from collections.abc import Callable
from typing import Any

from mock_server.server.server import MockServer


class ThreadedMockServer:
    """A :class:`MockServer` running in a background thread, for sync code and pytest fixtures::

    with ThreadedMockServer(port=0) as server:
        client = OpenAI(api_key="sk-test", base_url=server.base_url)
    """

    def __init__(self, **kwargs: Any) -> None:
        self.server = MockServer(**kwargs)
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, daemon=True)

    def start(self, timeout: float = 10) -> MockServer:
        """Start, and return once what sessions need is built too (``MockServer.start``
        returns as soon as it listens): a test process pays the warm-up once, up front, not
        spread over the tests that run while it builds."""

        async def start_ready() -> None:
            await self.server.start()
            await self.server.ready()

        self._thread.start()
        asyncio.run_coroutine_threadsafe(start_ready(), self._loop).result(timeout)
        return self.server

    def stop(self, timeout: float = 10) -> None:
        with contextlib.suppress(Exception):
            asyncio.run_coroutine_threadsafe(self.server.stop(), self._loop).result(timeout)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(timeout)
        self._loop.close()

    def call(self, fn: Callable[[], Any], timeout: float = 10) -> Any:
        """Run ``fn`` on the server's loop (mounts and connections belong to it)."""

        async def run() -> Any:
            return fn()

        return asyncio.run_coroutine_threadsafe(run(), self._loop).result(timeout)

    def __enter__(self) -> MockServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
