"""The supervisor, its sockets and the counters its workers share (mock_server/server/workers.py,
shared_state.py); ``serve --workers`` end to end is tests/harness/test_serve_workers.py.

What forks runs in a fresh interpreter (a test process has threads: pytest's, xdist's), each
script bounded by its timeout.
"""

from __future__ import annotations

import errno
import subprocess
import sys
import textwrap

import pytest

from mock_server.scenario.served import Played
from mock_server.scenario.verdict import ConnectionVerdict, Refusal
from mock_server.server.workers import Supervisor, listening_socket

WAIT = 30.0


def run_script(code: str) -> str:
    done = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code)],
        capture_output=True,
        text=True,
        timeout=WAIT,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    return done.stdout


def test_counters_are_one_count_over_forked_processes() -> None:
    out = run_script(
        """
        import multiprocessing
        from mock_server.server.shared_state import SharedCounters

        counters = SharedCounters(["", "/a"])
        def count(queue):
            traffic = counters.traffic("")
            queue.put([traffic.count_attempt() for _ in range(500)])
            counters.add_open(+1)
        context = multiprocessing.get_context("fork")
        queue = context.Queue()
        processes = [context.Process(target=count, args=(queue,)) for _ in range(2)]
        for p in processes:
            p.start()
        numbers = queue.get(timeout=20) + queue.get(timeout=20)
        for p in processes:
            p.join(20)
        assert sorted(numbers) == list(range(1, 1001)), "attempt numbers repeat or skip"
        assert counters.read("") == (1000, 0) and counters.read("/a") == (0, 0)
        assert counters.open_sessions == 2
        # A prefix mounted after the fork is the process's own.
        assert counters.traffic("/later").count_attempt() == 1
        print("ok")
        """
    )
    assert out.strip() == "ok"


def test_the_listening_socket_refuses_a_taken_port() -> None:
    sock = listening_socket("127.0.0.1", 0)
    try:
        port = sock.getsockname()[1]
        assert port > 0
        with pytest.raises(OSError) as taken:
            listening_socket("127.0.0.1", port)
        assert taken.value.errno == errno.EADDRINUSE
    finally:
        sock.close()


def test_played_parts_merge_in_number_and_time_order() -> None:
    first = Played(
        (ConnectionVerdict(connection=3), ConnectionVerdict(connection=1)),
        (Refusal(4, 429, None, 4.0),),
        (5.0, 1.0),
        4,
    )
    second = Played((ConnectionVerdict(connection=2),), (Refusal(1, 429, None, 0.5),), (2.0,), 5)
    merged = Played.merge([first, second])
    assert [c.connection for c in merged.connections] == [1, 2, 3]
    assert [r.attempt for r in merged.refusals] == [1, 4]
    assert merged.accepted_at == (1.0, 2.0, 5.0)
    assert merged.attempts == 5
    assert Played.merge([]).attempts == 0


SUPERVISED = """
    import asyncio, os, signal, sys
    from mock_server.server.workers import Supervisor, WorkersFailed

    async def body(worker, ready, stop):
        if worker.number == {failing}:
            raise RuntimeError("no luck")
        ready()
        if worker.number == {leaving}:
            return "left"
        await stop.wait()
        return f"worker {{worker.number}} stopped"

    supervisor = Supervisor(3, "127.0.0.1", 0, [""], body)
    try:
        supervisor.start()
    except WorkersFailed as failed:
        print("failed:", failed)
        sys.exit(0)
    if {signal}:
        os.kill(os.getpid(), signal.SIGTERM)
    print("wait:", supervisor.wait())
    for report in supervisor.stop():
        print("report:", report.number, report.result, report.exitcode, report.error)
"""


def supervised(failing: int = 0, leaving: int = 0, signal: bool = False) -> list[str]:
    code = SUPERVISED.format(failing=failing, leaving=leaving, signal=signal)
    return run_script(code).splitlines()


def test_a_signal_stops_every_worker_and_collects_their_reports() -> None:
    assert supervised(signal=True) == [
        "wait: None",
        "report: 1 worker 1 stopped 0 None",
        "report: 2 worker 2 stopped 0 None",
        "report: 3 worker 3 stopped 0 None",
    ]


def test_a_worker_that_fails_to_start_fails_the_start_with_its_error() -> None:
    assert supervised(failing=2) == ["failed: worker 2 did not start: RuntimeError: no luck"]


def test_a_worker_ending_by_itself_ends_the_wait_and_the_others_stop() -> None:
    lines = supervised(leaving=3)
    assert lines[0] == "wait: worker 3 ended by itself (exit code 0); stopping the others"
    assert lines[1:] == [
        "report: 1 worker 1 stopped 0 None",
        "report: 2 worker 2 stopped 0 None",
        "report: 3 left 0 None",
    ]


def test_the_number_of_workers_is_bounded() -> None:
    async def body(*_: object) -> None:
        return None

    with pytest.raises(ValueError, match="between 1 and 64"):
        Supervisor(0, "127.0.0.1", 0, [""], body)
