"""What the worker processes of one ``serve --workers N`` count together, in shared memory.

A scenario's ``connections:`` steps read the handshake attempt's number (a 429 on attempt 1,
an accept on attempt 2), the scenario's steps read the accepted connection's number, and
``--max-sessions`` reads how many sessions are open: with several processes on one port, each
attempt may land on any of them, so these counts cannot be a process's own.
:class:`SharedCounters` keeps them in one small array of 64-bit integers in shared memory,
made by the supervisor before it forks the workers, behind one lock: a count is one locked
add, a few microseconds per handshake, and nothing per frame.

:class:`Worker` is what a :class:`~mock_server.server.MockServer` is handed to serve as one
worker of several: its number, its already-bound listening socket and the counters. A server
without one counts in its own :class:`~mock_server.server.mount.MountTraffic`, as always.
"""

from __future__ import annotations

import socket
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from websockets.http11 import Response

from mock_server.server.mount import MountTraffic

# The response header that names the worker which answered a handshake (workers > 1 only).
WORKER_HEADER = "x-realtime-mock-worker"


class SharedCounters:
    """Per mount prefix, handshake attempts and accepted connections; and the sessions open,
    over every process that inherits this object (made before the fork).

    >>> counters = SharedCounters([""])
    >>> traffic = counters.traffic("")
    >>> traffic.count_attempt(), traffic.count_attempt(), traffic.count_accepted()
    (1, 2, 1)
    >>> counters.add_open(+1), counters.open_sessions
    (1, 1)
    """

    def __init__(self, prefixes: Sequence[str], context: Any = None) -> None:
        if context is None:  # imported here: a server of one process never pays for it
            import multiprocessing

            context = multiprocessing.get_context("fork")
        self._slots = {prefix.rstrip("/"): index for index, prefix in enumerate(prefixes)}
        # [open sessions, attempts of mount 0, accepted of mount 0, attempts of mount 1, ...]
        self._values = context.RawArray("q", 1 + 2 * len(self._slots))
        self._lock = context.Lock()

    @property
    def prefixes(self) -> list[str]:
        return list(self._slots)

    def traffic(self, prefix: str) -> MountTraffic:
        """The counts of the mount at ``prefix``: shared when the prefix was known before the
        fork, else the process's own (a mount added later exists in one worker only)."""
        slot = self._slots.get(prefix.rstrip("/"))
        if slot is None:
            return MountTraffic()
        return SharedMountTraffic(self, 1 + 2 * slot)

    def add(self, index: int, delta: int) -> int:
        """Add ``delta`` to value ``index``; the value after it (atomic over the processes)."""
        with self._lock:
            value: int = self._values[index] + delta
            self._values[index] = value
        return value

    def add_open(self, delta: int) -> int:
        return self.add(0, delta)

    @property
    def open_sessions(self) -> int:
        """The sessions open in every worker right now."""
        return int(self._values[0])

    def read(self, prefix: str = "") -> tuple[int, int]:
        """(attempts, accepted) of the mount at ``prefix`` over every worker."""
        base = 1 + 2 * self._slots[prefix.rstrip("/")]
        with self._lock:
            return int(self._values[base]), int(self._values[base + 1])


class SharedMountTraffic(MountTraffic):
    """A :class:`MountTraffic` whose counts are the workers' together. Its ``attempts`` and
    ``accepted`` fields are what this process last counted (use
    :meth:`SharedCounters.read` for everyone's)."""

    def __init__(self, counters: SharedCounters, base: int) -> None:
        super().__init__()
        self._counters = counters
        self._base = base

    def count_attempt(self) -> int:
        self.attempts = self._counters.add(self._base, 1)
        return self.attempts

    def count_accepted(self) -> int:
        self.accepted = self._counters.add(self._base + 1, 1)
        return self.accepted


def traffic_for(worker: Worker | None, prefix: str) -> MountTraffic:
    """What a server counts a mount's traffic in: its own counts, or the workers' together."""
    return MountTraffic() if worker is None else worker.counters.traffic(prefix)


@dataclass(frozen=True)
class Worker:
    """One worker of several on one port: its number (1..N), the listening socket (made by the
    supervisor, the same in every worker) and the counters the workers share."""

    number: int
    sock: socket.socket
    counters: SharedCounters

    def name_response(self, _: object, __: object, response: Response) -> None:
        """Name this worker in a handshake's response (:data:`WORKER_HEADER`): websockets'
        ``process_response`` hook."""
        response.headers[WORKER_HEADER] = str(self.number)
