"""`serve` listens before the heavy parts load, and a connection waits for them (issue 15).

The session package, numpy, pydantic and the SDK's models take most of a second to load; the
command line and the server import none of them, and ``MockServer.start`` returns once it
listens, with what sessions need built in a worker thread that each connection's handler waits
for. Each check runs in a fresh interpreter, since this one has long loaded everything.
"""

from __future__ import annotations

import json
import subprocess
import sys
import threading
from pathlib import Path

import pytest

from mock_server.server import MockServer, warm
from tests.helpers import MODEL_QUERY, WAIT, connected, recv, serving, until

ROOT = Path(__file__).resolve().parents[2]
HEAVY = (
    "numpy",
    "pydantic",
    "openai",
    "mock_server.session",
    "mock_server.relay.relayed",
    "mock_server.scenario.model",
    "harness.report",
)


def _fresh(code: str) -> str:
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=120, cwd=ROOT
    )
    assert done.returncode == 0, done.stderr
    return done.stdout


def test_the_command_line_and_the_server_load_nothing_heavy() -> None:
    probe = (
        "import sys, json; import harness.cli, harness.cli.serve, mock_server.server, "
        # What serve attaches before it listens: the live page and the control API.
        "mock_server.relay, harness.live_page, mock_server.server.control; "
        "print(json.dumps(sorted(sys.modules)))"
    )
    loaded = json.loads(_fresh(probe))
    heavy = [m for m in loaded if m.split(".")[0] in HEAVY or m.startswith(HEAVY)]
    assert heavy == []


async def test_start_listens_at_once_and_a_session_starts_once_the_warm_up_is_done(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    built = threading.Event()
    monkeypatch.setattr(warm, "is_warm", lambda: False)
    monkeypatch.setattr(warm, "warm_up", lambda: built.wait(WAIT) and None)
    async with serving() as server:  # start() returned while the warm-up is blocked
        assert not built.is_set()
        async with connected(server.ws_url + MODEL_QUERY, opened=False) as ws:
            await until(lambda: len(server.connections) == 1, "the connection is accepted")
            # Accepted, and waiting for the warm-up: no session yet, nothing sent.
            assert server.connections[0].session is None
            built.set()
            assert (await recv(ws))["type"] == "session.created"
            assert server.connections[0].session is not None
        await server.ready()


async def test_stop_waits_for_a_warm_up_still_running_but_not_forever(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A process that exits while the warm-up thread is inside an import can abort at
    interpreter shutdown (``serve`` stopped by SIGINT as it starts): stop() waits for it,
    bounded."""
    release = threading.Event()
    finished = threading.Event()

    def slow_warm_up() -> None:
        release.wait(WAIT)
        finished.set()

    monkeypatch.setattr(warm, "is_warm", lambda: False)
    monkeypatch.setattr(warm, "warm_up", slow_warm_up)
    server = MockServer(port=0)
    await server.start()
    threading.Timer(0.2, release.set).start()
    await server.stop()
    assert finished.is_set()  # stop() returned only once the warm-up had ended
    monkeypatch.setattr(warm, "FINISH_S", 0.1)
    release.clear()
    finished.clear()
    server = MockServer(port=0)
    await server.start()
    await server.stop()  # bounded: returns although the warm-up is still blocked
    assert not finished.is_set()
    release.set()


def test_serve_fixes_glibcs_mmap_threshold_where_it_can() -> None:
    """`serve` keeps glibc's mmap threshold fixed (a long session's audio buffers then go back
    to the system when freed); elsewhere the call says it could not, and changes nothing."""
    probe = (
        "import platform, sys; from mock_server.server.warm import fix_mmap_threshold; "
        "print(fix_mmap_threshold(), sys.platform.startswith('linux') "
        "and platform.libc_ver()[0] == 'glibc')"
    )
    fixed, glibc = _fresh(probe).split()
    assert fixed == glibc


def test_servers_started_at_once_in_a_fresh_process_warm_up_once() -> None:
    """Two threaded servers (each its own loop) start together: the warm-up runs once, the
    second waits for it, both return from start() warmed (a test process pays it up front),
    and both serve sessions."""
    probe = r"""
import json, threading
from unittest import mock
from websockets.sync.client import connect
from mock_server.server import ThreadedMockServer, Mount
import mock_server.protocol.validation as validation

runs = []
real = validation.warm_up
def counted() -> None:
    runs.append(threading.get_ident())
    real()

with mock.patch.object(validation, "warm_up", counted):
    servers = [ThreadedMockServer(port=0, default_mount=Mount(pace=0.0)) for _ in range(2)]
    starting = [threading.Thread(target=s.start) for s in servers]
    for t in starting: t.start()
    for t in starting: t.join(60)
    from mock_server.server.warm import is_warm
    warm_when_started = is_warm()  # a threaded server's start() returns ready
    kinds = []
    for server in servers:
        with connect(server.server.ws_url + "?model=gpt-realtime",
                     additional_headers={"Authorization": "Bearer sk-test"}) as ws:
            kinds.append(json.loads(ws.recv(timeout=60))["type"])
    for server in servers: server.stop()
print(json.dumps([len(runs), warm_when_started, kinds]))
"""
    runs, warm_when_started, kinds = json.loads(_fresh(probe).split("\n")[-2])
    assert runs == 1
    assert warm_when_started is True
    assert kinds == ["session.created", "session.created"]
