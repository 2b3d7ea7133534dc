"""The client's process under ``realtime-mock run``: its output captured, its group ended.

The command runs in a session (process group) of its own; :func:`end_group` sends the whole
group SIGTERM, then SIGKILL after a grace, so that ``bash -c``, ``npm start`` and their children
never outlive it. Its stdout and stderr are kept while they are read, bounded: the head and the
tail of each (:class:`CapturedOutput`).
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
from collections.abc import Callable
from pathlib import Path

# What is kept of each of the client's streams, while it is read: its first and last bytes.
OUTPUT_HEAD_BYTES = 4_000
OUTPUT_TAIL_BYTES = 16_000
# Lines of a stream's tail a report shows for a failure.
TAIL_LINES = 20
# SIGTERM to the client's process group, then SIGKILL this long after.
KILL_GRACE_S = 0.5


# ---- the client's output --------------------------------------------------------------------


class CapturedOutput:
    """One of the client's streams, bounded while it is read: its head, its tail, the count."""

    def __init__(self, head: int = OUTPUT_HEAD_BYTES, tail: int = OUTPUT_TAIL_BYTES) -> None:
        self._head_limit = head
        self._tail_limit = tail
        self.head = bytearray()
        self.tail = bytearray()
        self.total = 0

    def feed(self, data: bytes) -> None:
        self.total += len(data)
        room = self._head_limit - len(self.head)
        if room > 0:
            self.head += data[:room]
            data = data[room:]
        if data:
            self.tail += data
            # Trim in large steps only: a slice per small read would copy the tail each time.
            if len(self.tail) > 2 * self._tail_limit:
                del self.tail[: len(self.tail) - self._tail_limit]

    def text(self) -> str:
        """The stream as text; what was dropped in the middle is said, with its size."""
        tail = bytes(self.tail[-self._tail_limit :])
        dropped = self.total - len(self.head) - len(tail)
        middle = f"\n[... {dropped} bytes of output dropped ...]\n" if dropped > 0 else ""
        return bytes(self.head).decode(errors="replace") + middle + tail.decode(errors="replace")

    def tail_lines(self, count: int = TAIL_LINES) -> tuple[list[str], int]:
        """The last ``count`` lines, and how many lines the kept text has in all."""
        lines = self.text().splitlines()
        return lines[-count:], len(lines)


class _Capture(asyncio.Protocol):
    def __init__(self, sink: CapturedOutput, ended: asyncio.Future[None]) -> None:
        self.sink = sink
        self.ended = ended

    def data_received(self, data: bytes) -> None:
        self.sink.feed(data)

    def connection_lost(self, exc: Exception | None) -> None:
        if not self.ended.done():
            self.ended.set_result(None)


def capture_of(sink: CapturedOutput, ended: asyncio.Future[None]) -> Callable[[], _Capture]:
    return lambda: _Capture(sink, ended)


# ---- the client's process group -------------------------------------------------------------


def _signal_group(group: int, sig: int) -> bool:
    """Send ``sig`` to the process group; False when no process of it is left."""
    try:
        os.killpg(group, sig)
    except ProcessLookupError:
        return False
    except PermissionError:  # only zombies left (macOS says so this way)
        return False
    return True


def _group_running(group: int) -> bool:
    """Whether a process of the group still runs.

    Zombies do not count: an orphan that has ended stays in its group until whoever adopted
    it reaps it, which a container's init may do only now and then. Where there is no /proc,
    any member counts.
    """
    if not _signal_group(group, 0):
        return False
    proc = Path("/proc")
    if not (proc / "self" / "stat").exists():
        return True
    for stat in proc.glob("[0-9]*/stat"):
        try:
            text = stat.read_text()
        except OSError:  # it ended while we looked
            continue
        # "pid (comm) state ppid pgrp ...", and comm may hold spaces and parentheses.
        state, _ppid, pgrp = text[text.rindex(")") + 2 :].split(" ", 3)[:3]
        if int(pgrp) == group and state != "Z":
            return True
    return False


async def end_group(process: asyncio.subprocess.Process, group: int) -> bool:
    """SIGTERM the client's process group, SIGKILL what is left after the grace.

    Returns whether any process of the group was still running.
    """
    if not _signal_group(group, signal.SIGTERM):
        return False
    loop = asyncio.get_running_loop()
    deadline = loop.time() + KILL_GRACE_S
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(process.wait(), KILL_GRACE_S)
    # The leader's exit says nothing of the rest of its group, and no event says when a
    # process that is not our child ends: look, briefly, until the grace is over.
    while loop.time() < deadline and _group_running(group):
        await asyncio.sleep(0.02)
    if _group_running(group):
        _signal_group(group, signal.SIGKILL)
    with contextlib.suppress(TimeoutError):  # SIGKILL cannot be ignored: a bound all the same
        await asyncio.wait_for(process.wait(), KILL_GRACE_S)
    return True


__all__ = [
    "KILL_GRACE_S",
    "OUTPUT_HEAD_BYTES",
    "OUTPUT_TAIL_BYTES",
    "CapturedOutput",
    "capture_of",
    "end_group",
]
