"""The sessions a server has open: counted as handlers start and end, waited for, and shared with
the other workers when the server is one of several (``serve --workers N``)."""

from __future__ import annotations

import asyncio

from mock_server.server.shared_state import Worker


class SessionCount:
    def __init__(self, worker: Worker | None = None) -> None:
        self.worker = worker
        self.here = 0  # this process's
        self._changed: asyncio.Condition | None = None

    def _condition(self) -> asyncio.Condition:
        if self._changed is None:
            self._changed = asyncio.Condition()
        return self._changed

    async def add(self, delta: int) -> None:
        async with self._condition():
            self.here += delta
            if self.worker:
                self.worker.counters.add_open(delta)
            self._condition().notify_all()

    @property
    def value(self) -> int:
        """Open now (in every worker, for one of several)."""
        return self.worker.counters.open_sessions if self.worker else self.here

    async def wait(self, at_most: int, timeout: float) -> None:
        """Until no more than ``at_most`` of this process's sessions are open."""
        async with self._condition():
            await asyncio.wait_for(
                self._condition().wait_for(lambda: self.here <= at_most), timeout
            )
