"""``realtime-mock record`` as a user runs it: a real process relaying to an upstream mock.

Each record mode: what is relayed, what is replayed, what is written.
"""

from __future__ import annotations

import asyncio
import json
import os
import re
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from websockets.asyncio.client import connect
from websockets.exceptions import InvalidStatus

from harness.cli import build_parser
from mock_server.scenario.lint import lint_paths
from mock_server.server import MockServer, Mount, ThreadedMockServer

WAIT = 15.0
ITEM = {
    "type": "conversation.item.create",
    "item": {"type": "message", "role": "user", "content": [{"type": "input_text", "text": "hi"}]},
}


@pytest.fixture
def upstream() -> Iterator[MockServer]:
    with ThreadedMockServer(port=0, default_mount=Mount(pace=0.0, seed="up")) as server:
        yield server


def start_record(*args: str) -> tuple[subprocess.Popen[str], str]:
    env = {k: v for k, v in os.environ.items() if k != "OPENAI_API_KEY"}
    process = subprocess.Popen(
        [sys.executable, "-m", "harness.cli", "record", "--port", "0", *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**env, "PYTHONUNBUFFERED": "1"},
    )
    assert process.stdout is not None
    first = process.stdout.readline()  # blocks until it listens (bounded by pytest-timeout)
    match = re.search(r"(ws://127\.0\.0\.1:\d+/v1/realtime)", first)
    assert match, (
        f"unexpected first line: {first!r} {process.stderr.read() if process.stderr else ''}"
    )
    return process, match.group(1)


def stop(process: subprocess.Popen[str]) -> str:
    process.send_signal(signal.SIGTERM)
    _, err = process.communicate(timeout=WAIT)
    assert process.returncode == 0, err
    return err


def text_turn(url: str) -> list[str]:
    """One text turn; the types the client received."""

    async def run() -> list[str]:
        headers = {"Authorization": "Bearer sk-mock"}
        async with connect(f"{url}?model=gpt-realtime", additional_headers=headers) as ws:
            types: list[str] = []

            async def until(last: str) -> None:
                while not types or types[-1] != last:
                    types.append(json.loads(await ws.recv())["type"])

            await asyncio.wait_for(until("session.created"), WAIT)
            await ws.send(json.dumps(ITEM))
            await ws.send(json.dumps({"type": "response.create"}))
            await asyncio.wait_for(until("response.done"), WAIT)
            return types

    return asyncio.run(run())


def relayed(upstream: MockServer) -> int:
    return len(upstream.connections)


def test_all_records_each_connection_then_once_replays_without_the_upstream(
    upstream: MockServer, tmp_path: Path
) -> None:
    out = tmp_path / "chat.yaml"
    process, url = start_record("--out", str(out), "--upstream", upstream.ws_url, "--mode", "all")
    try:
        live = text_turn(url)
        second = text_turn(url)
    finally:
        err = stop(process)
    assert f"recorded {out}" in err
    assert out.exists() and (tmp_path / "chat-2.yaml").exists()
    assert lint_paths([str(tmp_path)]) == []
    assert relayed(upstream) == 2

    process, url = start_record("--out", str(out), "--upstream", upstream.ws_url)  # once
    try:
        assert text_turn(url) == live
        assert text_turn(url) == second
        with pytest.raises(InvalidStatus) as refused:
            text_turn(url)  # a third connection: nothing recorded for it, and once records none
        assert refused.value.response.status_code == 404
    finally:
        err = stop(process)
    assert relayed(upstream) == 2  # the upstream was never called
    assert '"ok": true' in err


def test_new_episodes_replays_the_known_and_records_the_new(
    upstream: MockServer, tmp_path: Path
) -> None:
    out = tmp_path / "chat.yaml"
    args = ("--out", str(out), "--upstream", upstream.ws_url)
    process, url = start_record(*args, "--mode", "once")  # nothing yet: records
    try:
        text_turn(url)
    finally:
        stop(process)
    assert relayed(upstream) == 1
    process, url = start_record(*args, "--mode", "new_episodes")
    try:
        text_turn(url)  # replayed
        text_turn(url)  # new: relayed and recorded
    finally:
        stop(process)
    assert relayed(upstream) == 2
    assert (tmp_path / "chat-2.yaml").exists()


def test_none_without_a_recording_is_an_error(tmp_path: Path) -> None:
    out = str(tmp_path / "x.yaml")
    result = subprocess.run(
        [sys.executable, "-m", "harness.cli", "record", "--out", out, "--mode", "none"],
        capture_output=True,
        text=True,
        timeout=WAIT,
    )
    assert result.returncode == 2
    assert "nothing recorded" in result.stderr


def test_record_help_shows_a_real_example(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        build_parser().parse_args(["record", "--help"])
    shown = capsys.readouterr().out
    assert "realtime-mock record --out scenarios/recorded/" in shown
    assert "new_episodes" in shown


def test_sigint_closes_open_connections_with_1001_and_writes_their_recordings(
    upstream: MockServer, tmp_path: Path
) -> None:
    out = tmp_path / "open.yaml"
    process, url = start_record("--out", str(out), "--upstream", upstream.ws_url, "--mode", "all")

    async def run() -> int | None:
        headers = {"Authorization": "Bearer sk-mock"}
        async with connect(f"{url}?model=gpt-realtime", additional_headers=headers) as ws:
            types: list[str] = []
            while not types or types[-1] != "response.done":
                if types[-1:] == ["session.created"]:
                    await ws.send(json.dumps(ITEM))
                    await ws.send(json.dumps({"type": "response.create"}))
                types.append(json.loads(await asyncio.wait_for(ws.recv(), WAIT))["type"])
            process.send_signal(signal.SIGINT)  # the connection is still open
            await asyncio.wait_for(ws.wait_closed(), WAIT)
            return ws.close_code

    try:
        assert asyncio.run(run()) == 1001
    finally:
        _, err = process.communicate(timeout=WAIT)
    assert process.returncode == 0, err
    assert f"recorded {out}" in err
    assert lint_paths([str(tmp_path)]) == []
    assert "response.create" in out.read_text()
