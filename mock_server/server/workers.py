"""Several server processes on one port (``serve --workers N``): the supervisor and its workers.

The supervisor (the process ``serve`` started in) makes one listening socket, and every worker
inherits it (a pre-forked accept): each new connection wakes the workers, and the first to
accept it serves it, so that a busy worker, late to accept, leaves new sessions to an idle one
(``SO_REUSEPORT``'s even hash of the client's port did not: the worker that other processes
starved fell behind alone; ``BENCHMARKS.md``). The socket listens before any worker runs, so a
connection that arrives while the workers start waits in the backlog. Then it forks the
workers, each a :class:`~mock_server.server.MockServer` serving a
:class:`~mock_server.server.shared_state.Worker` (the socket and the
:class:`~mock_server.server.shared_state.SharedCounters` the workers count attempts,
connections and open sessions in), and waits for each to say it is ready (bounded by
:data:`READY_TIMEOUT`).

It holds no connection itself: it waits for SIGINT or SIGTERM (or for a worker to end early),
then tells every worker to stop over its pipe. A worker stops its server (every open session
is closed with 1001), and sends back what its body returns (a served scenario's part of the
verdict, say); the supervisor collects them within :data:`STOP_TIMEOUT`, then kills what is
left. A worker ignores SIGINT (the terminal's Ctrl-C reaches the whole process group: the
supervisor decides), stops on SIGTERM, and stops when the supervisor's end of its pipe closes
(the supervisor died), so that no worker outlives it.

Workers are forked (after the supervisor has built, once, what sessions need), not spawned:
they start in milliseconds and share the built validators' memory.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import errno
import multiprocessing
import os
import signal
import socket
import time
from collections.abc import Callable, Coroutine, Sequence
from dataclasses import dataclass
from multiprocessing.connection import Connection, wait
from types import FrameType
from typing import Any

from mock_server.server.shared_state import SharedCounters, Worker

# How long the workers may take to listen and be ready, and to stop and report.
READY_TIMEOUT = 60.0
STOP_TIMEOUT = 20.0
MAX_WORKERS = 64
BACKLOG = 1024

# What a worker runs: given its seat, a function to call once it serves, and the event set
# when it is to stop; it returns what the supervisor collects (picklable).
WorkerBody = Callable[[Worker, Callable[[], None], asyncio.Event], Coroutine[Any, Any, object]]


class WorkersFailed(RuntimeError):
    """A worker could not start (its error is the message)."""


def available_cpus() -> int:
    """The CPUs this process may run on (``--workers auto``)."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # pragma: no cover - not Linux
        return os.cpu_count() or 1


def listening_socket(host: str, port: int) -> socket.socket:
    """The one listening TCP socket every worker accepts on (port 0: any free port); a port
    another process holds is an ``OSError`` (EADDRINUSE), as for one server."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((host, port))
        sock.listen(BACKLOG)
        sock.setblocking(False)
    except BaseException:
        sock.close()
        raise
    return sock


@dataclass(frozen=True)
class WorkerReport:
    """What the supervisor learnt of one worker when it stopped."""

    number: int
    result: object | None  # what its body returned; None when it did not finish
    exitcode: int | None
    error: str | None  # why it has no result


@dataclass
class _Seat:
    worker: Worker
    process: multiprocessing.process.BaseProcess
    control: Connection
    ready: bool = False
    report: WorkerReport | None = None


class Supervisor:
    """Starts ``count`` workers on ``host:port`` and stops them on SIGINT or SIGTERM::

    supervisor = Supervisor(2, "127.0.0.1", 0, [""], body)
    supervisor.start()           # listening, every worker ready (or WorkersFailed / OSError)
    problem = supervisor.wait()  # until a signal (None) or a worker's early end (what ended)
    reports = supervisor.stop()  # one WorkerReport per worker, in their order
    """

    def __init__(
        self, count: int, host: str, port: int, prefixes: Sequence[str], body: WorkerBody
    ) -> None:
        if not 1 <= count <= MAX_WORKERS:
            raise ValueError(f"workers: {count} is not between 1 and {MAX_WORKERS}")
        self.count = count
        self.host = host
        self.port = port
        self.counters = SharedCounters(prefixes)
        self._body = body
        self._seats: list[_Seat] = []
        self._stopping = False
        self._wake_r, self._wake_w = socket.socketpair()
        self._wake_r.setblocking(False)
        self._wake_w.setblocking(False)
        self._previous: dict[int, Any] = {}

    def start(self) -> None:
        sock = listening_socket(self.host, self.port)
        self.port = sock.getsockname()[1]
        for sig in (signal.SIGINT, signal.SIGTERM):
            self._previous[sig] = signal.signal(sig, self._on_signal)
        context = multiprocessing.get_context("fork")
        inherited: list[Any] = [self._wake_r, self._wake_w]
        try:
            for number in range(1, self.count + 1):
                ours, theirs = context.Pipe()
                worker = Worker(number, sock, self.counters)
                process = context.Process(
                    target=_child,
                    args=(worker, theirs, list(inherited), self._body),
                    name=f"realtime-mock worker {number}",
                    daemon=True,
                )
                process.start()
                theirs.close()
                inherited.append(ours)
                self._seats.append(_Seat(worker, process, ours))
        finally:
            sock.close()  # the workers have it; the supervisor accepts nothing
        self._await_ready()

    def _await_ready(self) -> None:
        deadline = time.monotonic() + READY_TIMEOUT
        while not all(seat.ready for seat in self._seats):
            left = deadline - time.monotonic()
            if left <= 0 or self._stopping:
                self.stop()
                raise WorkersFailed(
                    "stopped while the workers started"
                    if self._stopping
                    else f"the workers were not ready within {READY_TIMEOUT:g} s"
                )
            for seat in self._ready_events(left):
                if not seat.ready:  # it ended, or failed, before it served
                    error = seat.report.error if seat.report else "it ended"
                    self.stop()
                    raise WorkersFailed(f"worker {seat.worker.number} did not start: {error}")

    def _ready_events(self, timeout: float) -> list[_Seat]:
        """Waits for messages; the seats that failed (the others are marked ready)."""
        waiting = {seat.control: seat for seat in self._seats if not seat.ready}
        failed: list[_Seat] = []
        for conn in wait([*waiting, self._wake_r], timeout):
            if conn is self._wake_r:
                self._drain_wake()
                continue
            seat = waiting[conn]  # type: ignore[index]
            message = _receive(seat.control)
            if message is not None and message[0] == "ready":
                seat.ready = True
            else:
                seat.report = _report(seat, message)
                failed.append(seat)
        return failed

    def wait(self) -> str | None:
        """Until SIGINT or SIGTERM (None), or until a worker ends by itself (what happened)."""
        sentinels = {seat.process.sentinel: seat for seat in self._seats}
        while not self._stopping:
            for ready in wait([*sentinels, self._wake_r]):
                if ready is self._wake_r:
                    self._drain_wake()
                    continue
                seat = sentinels[ready]  # type: ignore[index]
                seat.process.join(1)  # ended: its exit code is known once joined
                return (
                    f"worker {seat.worker.number} ended by itself "
                    f"(exit code {seat.process.exitcode}); stopping the others"
                )
        return None

    def stop(self) -> list[WorkerReport]:
        """Every worker told to stop, its report collected (bounded), stragglers killed."""
        for seat in self._seats:
            if seat.report is None:
                with contextlib.suppress(OSError):  # gone already: the loop below says so
                    seat.control.send(("stop", None))
        deadline = time.monotonic() + STOP_TIMEOUT
        for seat in self._seats:
            while seat.report is None:
                left = deadline - time.monotonic()
                if left <= 0:
                    seat.report = WorkerReport(
                        seat.worker.number, None, None, f"no report within {STOP_TIMEOUT:g} s"
                    )
                    break
                if seat.control.poll(min(left, 0.5)):
                    message = _receive(seat.control)
                    if message is None or message[0] != "ready":
                        seat.report = _report(seat, message)
                elif not seat.process.is_alive() and not seat.control.poll(0):
                    seat.report = _report(seat, None)
        reports: list[WorkerReport] = []
        for seat in self._seats:
            seat.process.join(max(0.1, deadline - time.monotonic()))
            if seat.process.is_alive():
                seat.process.kill()
                seat.process.join(5)
            seat.control.close()
            assert seat.report is not None
            reports.append(dataclasses.replace(seat.report, exitcode=seat.process.exitcode))
        for sig, previous in self._previous.items():
            signal.signal(sig, previous)
        self._previous.clear()
        return reports

    def _on_signal(self, signum: int, frame: FrameType | None) -> None:
        self._stopping = True
        try:
            self._wake_w.send(b"!")
        except OSError as exc:  # pragma: no cover - the pipe is full: a wake-up is due anyway
            if exc.errno not in (errno.EAGAIN, errno.EWOULDBLOCK):
                raise

    def _drain_wake(self) -> None:
        with contextlib.suppress(BlockingIOError):
            while self._wake_r.recv(64):
                pass


def _receive(control: Connection) -> tuple[str, Any] | None:
    try:
        message: tuple[str, Any] = control.recv()
    except (EOFError, OSError):
        return None
    return message


def _report(seat: _Seat, message: tuple[str, Any] | None) -> WorkerReport:
    number = seat.worker.number
    if message is None:
        seat.process.join(1)
        return WorkerReport(number, None, seat.process.exitcode, "it ended without a report")
    kind, value = message
    if kind == "done":
        return WorkerReport(number, value, None, None)
    return WorkerReport(number, None, None, str(value))


# ---- in the worker process ---------------------------------------------------------------


def _child(worker: Worker, control: Connection, inherited: list[Any], body: WorkerBody) -> None:
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C: the supervisor tells us
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    for thing in inherited:  # the supervisor's ends of the pipes (its own and earlier workers')
        thing.close()
    try:
        result = asyncio.run(_serve(worker, control, body))
    except BaseException as exc:
        try:
            control.send(("failed", f"{type(exc).__name__}: {exc}"))
        finally:
            raise SystemExit(1) from None
    control.send(("done", result))


async def _serve(worker: Worker, control: Connection, body: WorkerBody) -> object:
    loop = asyncio.get_running_loop()
    stop = asyncio.Event()
    loop.add_signal_handler(signal.SIGTERM, stop.set)

    def told() -> None:  # "stop", or the supervisor's end closed: stop either way
        loop.remove_reader(control.fileno())
        stop.set()

    loop.add_reader(control.fileno(), told)
    return await body(worker, lambda: control.send(("ready", None)), stop)
