"""``realtime-mock serve --workers 2`` end to end, as a subprocess: the scenario's attempt counts,
the verdict and --max-sessions over both workers, and SIGTERM closing every session with 1001.

Which worker takes a connection is the workers' race to accept it (one shared listening socket),
and the race is not a coin toss: the worker that served the last connection, awake, usually wins
the next one too (sixty-four in a row, often). Tests that need a connection on each worker open
it while the other workers are stopped (SIGSTOP), so that only one can accept; each worker names
itself in the handshake's ``x-realtime-mock-worker`` header.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import re
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed, InvalidStatus

from harness.cli import build_parser

WAIT = 15.0
KEY = {"Authorization": "Bearer sk-test"}
HEADER = "x-realtime-mock-worker"

TURN = """\
name: one_turn
description: One text turn per connection.
dialect: any
session: {output_modalities: [text]}
steps:
  - expect: response.create
  - respond: {text: "Hi."}
"""
FOUR_REFUSALS = """\
name: four_refusals
description: Four refusals, then a text turn.
dialect: any
attempts: 5
session: {output_modalities: [text]}
connections:
  - {status: 429, code: rate_limit_exceeded}
  - {status: 429, code: rate_limit_exceeded}
  - {status: 503}
  - {status: 429, code: rate_limit_exceeded}
  - steps:
      - expect: response.create
      - respond: {text: "Back in business."}
"""


class Served:
    def __init__(self, *args: str) -> None:
        self.process = subprocess.Popen(
            [sys.executable, "-m", "harness.cli", "serve", "--port", "0", "--workers", "2", *args],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env={**os.environ, "PYTHONUNBUFFERED": "1"},
        )
        assert self.process.stdout is not None
        first = self.process.stdout.readline()  # bounded by pytest-timeout
        match = re.search(r"(ws://127\.0\.0\.1:\d+/v1/realtime)", first)
        if not match:
            _, err = self.process.communicate(timeout=WAIT)
            raise AssertionError(f"unexpected first line: {first!r}; stderr: {err}")
        self.url = match.group(1)
        self.stderr = ""

    def stop(self) -> int:
        """SIGTERM, then the exit code (bounded); the stderr is kept."""
        self.process.send_signal(signal.SIGTERM)
        _, self.stderr = self.process.communicate(timeout=WAIT)
        return self.process.returncode

    def verdict(self) -> dict[str, Any]:
        start = self.stderr.index("{\n")
        verdict: dict[str, Any] = json.loads(self.stderr[start:])
        return verdict

    def workers(self) -> list[int]:
        """The worker processes (the speech engine's helper process is a child too)."""
        pid = self.process.pid
        children = Path(f"/proc/{pid}/task/{pid}/children").read_text().split()
        found = [
            int(c) for c in children if b"harness.cli" in Path(f"/proc/{c}/cmdline").read_bytes()
        ]
        assert len(found) == 2, found
        return found

    @contextlib.contextmanager
    def only(self, pid: int) -> Iterator[None]:
        """Meanwhile, worker process ``pid`` alone accepts: the others are stopped."""
        others = [other for other in self.workers() if other != pid]
        for other in others:
            os.kill(other, signal.SIGSTOP)
        try:
            yield
        finally:
            for other in others:
                os.kill(other, signal.SIGCONT)

    def served(self) -> dict[int, int]:
        found = re.findall(r"worker (\d) served (\d+) connection", self.stderr)
        return {int(worker): int(count) for worker, count in found}

    def kill(self) -> None:
        if self.process.poll() is None:
            self.process.kill()
            self.process.communicate(timeout=WAIT)


@pytest.fixture
def served() -> Any:
    started: list[Served] = []

    def start(*args: str) -> Served:
        started.append(Served(*args))
        return started[-1]

    yield start
    for one in started:
        one.kill()


def scenario(tmp_path: Path, text: str) -> str:
    path = tmp_path / "scenario.yaml"
    path.write_text(text)
    return str(path)


async def turn(ws: ClientConnection) -> None:
    created = json.loads(await asyncio.wait_for(ws.recv(), WAIT))
    assert created["type"] == "session.created"
    await ws.send(json.dumps({"type": "response.create"}))
    while json.loads(await asyncio.wait_for(ws.recv(), WAIT))["type"] != "response.done":
        pass


def worker_of(ws: ClientConnection) -> str:
    assert ws.response is not None
    return ws.response.headers[HEADER]


def test_connections_refused_then_accepted_count_attempts_over_both_workers(
    tmp_path: Path, served: Any
) -> None:
    server = served("--scenario", scenario(tmp_path, FOUR_REFUSALS))

    async def client() -> tuple[list[tuple[int, str]], str]:
        refusals: list[tuple[int, str]] = []
        for _ in range(10):  # bounded retries, without backoff (the scenario asks for none)
            try:
                async with connect(server.url, additional_headers=KEY, open_timeout=WAIT) as ws:
                    await turn(ws)
                    return refusals, worker_of(ws)
            except InvalidStatus as refused:
                refusals.append((refused.response.status_code, refused.response.headers[HEADER]))
        raise AssertionError(f"never accepted: {refusals}")

    refusals, accepted_by = asyncio.run(client())
    # Attempts 1 to 4 were refused as listed, wherever they landed: one count for both workers.
    assert [status for status, _ in refusals] == [429, 429, 503, 429]
    assert {worker for _, worker in refusals} | {accepted_by} <= {"1", "2"}
    assert server.stop() == 0, server.stderr
    verdict = server.verdict()
    assert verdict["ok"], verdict
    assert [r["attempt"] for r in verdict["refusals"]] == [1, 2, 3, 4]
    assert [c["connection"] for c in verdict["connections"]] == [1]


def test_the_verdict_is_collected_from_both_workers(tmp_path: Path, served: Any) -> None:
    folder = tmp_path / "transcripts"
    server = served("--scenario", scenario(tmp_path, TURN), "--transcript-dir", str(folder))

    async def clients() -> list[str]:
        workers: list[str] = []
        for pid in [*server.workers(), None]:  # one on each worker, then one on either
            with server.only(pid) if pid is not None else contextlib.nullcontext():
                async with connect(server.url, additional_headers=KEY, open_timeout=WAIT) as ws:
                    await turn(ws)
                    workers.append(worker_of(ws))
        assert set(workers) == {"1", "2"}, workers
        return workers

    workers = asyncio.run(clients())
    assert server.stop() == 0, server.stderr
    verdict = server.verdict()
    assert verdict["ok"], verdict
    # Numbered over both workers, each once; each worker reported its share.
    assert sorted(c["connection"] for c in verdict["connections"]) == list(
        range(1, len(workers) + 1)
    )
    assert server.served() == {1: workers.count("1"), 2: workers.count("2")}
    # Transcript names are the connections' numbers: no worker overwrote another's.
    names = sorted(p.name for p in folder.glob("*.json"))
    assert names == [f"connection-{n:04d}.json" for n in range(1, len(workers) + 1)]


async def open_on_both(server: Served) -> list[ClientConnection]:
    """A session held open on each worker."""
    held: dict[str, ClientConnection] = {}
    for pid in server.workers():
        with server.only(pid):
            ws = await connect(server.url, additional_headers=KEY, open_timeout=WAIT)
            created = json.loads(await asyncio.wait_for(ws.recv(), WAIT))
        assert created["type"] == "session.created"
        held[worker_of(ws)] = ws
    assert len(held) == 2, list(held)
    return list(held.values())


async def close_code(ws: ClientConnection) -> int:
    try:
        while True:
            await asyncio.wait_for(ws.recv(), WAIT)
    except ConnectionClosed as closed:
        assert closed.rcvd is not None
        return closed.rcvd.code


def test_sigterm_closes_every_session_on_every_worker_with_1001(
    tmp_path: Path, served: Any
) -> None:
    # The sessions never send what the scenario expects: the verdict fails, the exit code is 1.
    server = served("--scenario", scenario(tmp_path, TURN))

    async def held_then_stopped() -> list[int]:
        sessions = await open_on_both(server)
        server.process.send_signal(signal.SIGTERM)
        return list(await asyncio.gather(*(close_code(ws) for ws in sessions)))

    assert asyncio.run(held_then_stopped()) == [1001, 1001]
    _, server.stderr = server.process.communicate(timeout=WAIT)
    assert server.process.returncode == 1, server.stderr
    verdict = server.verdict()
    assert not verdict["ok"]
    assert {c["connection"] for c in verdict["connections"] if not c["ok"]} >= {1, 2}


def test_max_sessions_counts_the_sessions_of_both_workers(served: Any) -> None:
    server = served("--max-sessions", "1", "--pace", "fast")

    async def refused_elsewhere() -> tuple[str, str]:
        first, other = server.workers()
        with server.only(first):
            holder = await connect(server.url, additional_headers=KEY, open_timeout=WAIT)
            await asyncio.wait_for(holder.recv(), WAIT)
        try:
            with server.only(other), pytest.raises(InvalidStatus) as refused:
                async with connect(server.url, additional_headers=KEY, open_timeout=WAIT):
                    pass  # a second session accepted past --max-sessions 1
            assert refused.value.response.status_code == 503
            return worker_of(holder), refused.value.response.headers[HEADER]
        finally:
            await holder.close()

    holder, refuser = asyncio.run(refused_elsewhere())
    assert holder != refuser
    assert server.stop() == 0, server.stderr


def test_serve_help_documents_workers_and_bad_values_are_refused(
    capsys: pytest.CaptureFixture[str],
) -> None:
    serve = build_parser()._subparsers._group_actions[0].choices["serve"]  # type: ignore[union-attr]
    text = serve.format_help()
    assert "--workers N|auto" in text and "realtime-mock serve --workers auto" in text
    for value, message in (("0", "use 1..64"), ("many", "invalid --workers 'many'")):
        with pytest.raises(SystemExit):
            build_parser().parse_args(["serve", "--workers", value])
        assert message in capsys.readouterr().err
    assert build_parser().parse_args(["serve", "--workers", "auto"]).workers >= 1


def test_workers_refuse_tls_and_a_taken_port(served: Any) -> None:
    from harness.cli import main

    assert main(["serve", "--workers", "2", "--tls"]) == 2
    server = served()
    port = server.url.split(":")[2].split("/")[0]
    # The port is the workers': another group of workers, or one server, may not share it.
    assert main(["serve", "--workers", "2", "--port", port]) == 2
    assert main(["serve", "--port", port]) == 2
    assert server.stop() == 0


def test_a_worker_killed_stops_the_others_and_fails_the_exit_code(served: Any) -> None:
    server = served("--pace", "fast")
    os.kill(server.workers()[0], signal.SIGKILL)
    _, server.stderr = server.process.communicate(timeout=WAIT)  # it stops by itself
    assert server.process.returncode == 1
    assert "ended by itself (exit code -9); stopping the others" in server.stderr
    assert re.search(r"worker \d: it ended without a report", server.stderr), server.stderr
    assert len(server.served()) == 1
