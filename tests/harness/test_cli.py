"""``realtime-mock`` as a user runs it: a real process, real signals."""

from __future__ import annotations

import asyncio
import base64
import json
import os
import re
import signal
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed, InvalidStatus

from harness.cli import build_parser, main
from mock_server.protocol.events import Dialect
from mock_server.scenario.loader import library
from mock_server.server import Connection, MockServer, Mount, describe
from mock_server.transcript import Transcript
from mock_server.units import parse_pace

WAIT = 15.0


def start_serve(*args: str) -> tuple[subprocess.Popen[str], str]:
    """Start ``realtime-mock serve`` on a free port; returns the process and its ws URL."""
    process = subprocess.Popen(
        [sys.executable, "-m", "harness.cli", "serve", "--port", "0", *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )
    assert process.stdout is not None
    first = process.stdout.readline()  # blocks until the server listens (bounded by pytest-timeout)
    match = re.search(r"(ws://127\.0\.0\.1:\d+/v1/realtime)", first)
    assert match, f"unexpected first line: {first!r}"
    return process, match.group(1)


def test_serve_prints_urls_answers_health_and_stops_on_sigterm() -> None:
    process, ws_url = start_serve("--pace", "fast")
    try:
        port = int(ws_url.split(":")[2].split("/")[0])
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=WAIT) as r:
            assert r.status == 200

        async def converse_then_get_closed() -> int:
            async with connect(ws_url, additional_headers={"Authorization": "Bearer sk-x"}) as ws:
                created = json.loads(await asyncio.wait_for(ws.recv(), WAIT))
                assert created["type"] == "session.created"
                process.send_signal(signal.SIGTERM)
                try:
                    await asyncio.wait_for(ws.recv(), WAIT)
                except ConnectionClosed as closed:
                    assert closed.rcvd is not None
                    return closed.rcvd.code
            raise AssertionError("the server did not close the connection")

        assert asyncio.run(converse_then_get_closed()) == 1001
        assert process.wait(WAIT) == 0
        out = process.stdout.read() if process.stdout else ""
        assert f"OPENAI_BASE_URL=http://127.0.0.1:{port}/v1" in out
    finally:
        if process.poll() is None:
            process.kill()
            process.wait(WAIT)


def test_serve_tls_prints_the_ca_for_sdks() -> None:
    process, _ = start_serve("--tls")
    try:
        assert process.stdout is not None
        lines = [process.stdout.readline() for _ in range(12)]
        text = "".join(lines)
        ca = re.search(r"SSL_CERT_FILE=(\S+)", text)
        assert ca, text
        assert Path(ca.group(1)).read_text().startswith("-----BEGIN CERTIFICATE-----")
        assert re.search(r"wss://127\.0\.0\.1:\d+/v1/realtime", text)
        assert "NODE_EXTRA_CA_CERTS=" in text
        process.send_signal(signal.SIGINT)
        assert process.wait(WAIT) == 0
    finally:
        if process.poll() is None:
            process.kill()
            process.wait(WAIT)


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["serve", "--pace", "slow"], "invalid pace 'slow': use realtime, fast, or xN"),
        (["serve", "--port", "99999"], "invalid port 99999"),
        (["serve", "--max-duration", "forever"], "invalid duration 'forever'"),
        (["serve", "--dialect", "v2"], "invalid choice: 'v2'"),
    ],
)
def test_bad_arguments_say_what_was_wrong(
    argv: list[str], message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as exited:
        main(argv)
    assert exited.value.code == 2
    assert message in capsys.readouterr().err


def test_serve_help_shows_examples() -> None:
    serve = build_parser()._subparsers._group_actions[0].choices["serve"]  # type: ignore[union-attr]
    text = serve.format_help()
    assert "realtime-mock serve --tls" in text
    assert "OPENAI_BASE_URL=http://127.0.0.1:8765/v1" in text
    assert "websocket_base_url" in text


def test_port_in_use_is_a_clear_error(capsys: pytest.CaptureFixture[str]) -> None:
    import socket

    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        assert main(["serve", "--port", str(port)]) == 2
    err = capsys.readouterr().err
    assert f"cannot listen on 127.0.0.1:{port}" in err
    assert "--port 0" in err


def test_demo_runs_a_conversation_and_passes(tmp_path: Path) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "harness.cli", "demo", "--out", str(tmp_path)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    from harness.reference import DRIVERS, dialects

    # Every library scenario in each dialect it runs in (counted, so new scenarios add up).
    total = sum(len(dialects(name)) for name in DRIVERS)
    assert f"{total} passed, 0 failed" in result.stdout
    assert (tmp_path / "ga" / "audio_vad.wav").stat().st_size > 1000
    assert "reply audio written to:" in result.stdout


def test_demo_in_beta(tmp_path: Path) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "harness.cli", "demo", "--dialect", "beta", "--out", str(tmp_path)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert f"{len(library()) - 1} passed, 0 failed" in result.stdout  # not beta_retired


def test_client_command_talks_to_a_served_mock(tmp_path: Path) -> None:
    process, ws_url = start_serve("--pace", "fast")
    try:
        reply = tmp_path / "reply.wav"
        result = subprocess.run(
            [
                sys.executable,
                "-m",
                "harness.cli",
                "client",
                "--url",
                ws_url,
                "--key",
                "sk-x",
                "--say",
                "Hello there",
                "--audio",
                "fixtures/audio/question.wav",
                "--out",
                str(reply),
            ],
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert result.returncode == 0, result.stdout + result.stderr
        assert 'model: You said: "Hello there".' in result.stdout
        assert 'model: You said: "What\'s the weather in Paris?".' in result.stdout
        assert reply.stat().st_size > 1000
        # A local URL needs no key (tests/harness/test_client_cli.py); any other one does.
        remote = "wss://api.example.invalid/v1/realtime"
        refused = subprocess.run(
            [sys.executable, "-m", "harness.cli", "client", "--url", remote, "--say", "hi"],
            capture_output=True,
            text=True,
            timeout=60,
            env={k: v for k, v in os.environ.items() if k != "OPENAI_API_KEY"},
        )
        assert refused.returncode == 2
        assert "no API key" in refused.stderr
        resampled = subprocess.run(
            [
                *(sys.executable, "-m", "harness.cli", "client", "--url", ws_url, "--key", "sk-x"),
                *("--audio", "fixtures/audio/question_16k.wav", "--text-only"),
            ],
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert resampled.returncode == 0, resampled.stdout + resampled.stderr
        assert "warning: fixtures/audio/question_16k.wav: 16000 Hz audio resampled" in (
            resampled.stderr
        )
        assert "What's the weather in Paris?" in resampled.stdout
    finally:
        process.send_signal(signal.SIGTERM)
        process.wait(WAIT)


# ---- shutdown and safety -------------------------------------------------------------------


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM])
def test_a_signal_closes_every_connection_with_1001_and_writes_the_transcripts(
    sig: signal.Signals, tmp_path: Path
) -> None:
    folder = tmp_path / "transcripts"
    process, ws_url = start_serve("--transcript-dir", str(folder))  # real-time pacing
    secret = "sk-test-SECRET-0123456789"
    try:

        async def three_sessions_one_mid_reply() -> list[int]:
            headers = {"Authorization": f"Bearer {secret}"}
            sockets = [await connect(ws_url, additional_headers=headers) for _ in range(3)]
            for ws in sockets:
                assert json.loads(await asyncio.wait_for(ws.recv(), WAIT))["type"] == (
                    "session.created"
                )
            talking = sockets[0]
            # A long question makes a long spoken reply (the canned model quotes it, about
            # 20 s of audio at real-time pace): however slow the shutdown on a loaded machine,
            # the signal lands mid-reply.
            words = " ".join(f"word{n}" for n in range(80))
            said = {"type": "input_text", "text": words}
            await talking.send(
                json.dumps(
                    {
                        "type": "conversation.item.create",
                        "item": {"type": "message", "role": "user", "content": [said]},
                    }
                )
            )
            await talking.send(json.dumps({"type": "response.create"}))
            while json.loads(await asyncio.wait_for(talking.recv(), WAIT))["type"] != (
                "response.output_audio.delta"
            ):
                pass
            process.send_signal(sig)
            codes = []
            for ws in sockets:
                with pytest.raises(ConnectionClosed) as closed:
                    while True:
                        await asyncio.wait_for(ws.recv(), WAIT)
                assert closed.value.rcvd is not None
                codes.append(closed.value.rcvd.code)
            return codes

        assert asyncio.run(three_sessions_one_mid_reply()) == [1001, 1001, 1001]
        assert process.wait(WAIT) == 0
    finally:
        if process.poll() is None:
            process.kill()
            process.wait(WAIT)
    written = sorted(p.name for p in folder.iterdir())
    # Each transcript, and its HTML report beside it.
    assert written == [f"connection-000{n}.{kind}" for n in (1, 2, 3) for kind in ("html", "json")]
    for path in folder.iterdir():
        text = path.read_text()
        assert secret not in text
        if path.suffix == ".html":
            assert "closed 1001" in text
            continue
        transcript = json.loads(text)
        assert transcript["closed"][0] == 1001
        assert transcript["handshake"]["path"] == "/v1/realtime"
    first = json.loads((folder / "connection-0001.json").read_text())
    sent = [e["type"] for e in first["entries"] if e["direction"] == "server"]
    assert "response.output_audio.delta" in sent and "response.done" not in sent, sent


def test_serve_binds_loopback_unless_told_and_warns_when_told() -> None:
    assert build_parser().parse_args(["serve"]).host == "127.0.0.1"
    assert MockServer().host == "127.0.0.1"
    quiet = describe(MockServer(port=8765), any_key=True).splitlines()
    assert quiet[0] == "realtime-mock listening on ws://127.0.0.1:8765/v1/realtime"
    assert not any("WARNING" in line for line in quiet)
    loud = describe(MockServer(host="0.0.0.0", port=8765), any_key=True).splitlines()
    assert loud[1] == "WARNING: listening on 0.0.0.0, reachable from other machines."


def test_a_relayed_connections_keys_never_reach_its_transcript_file(tmp_path: Path) -> None:
    from types import SimpleNamespace

    from harness.cli.serve import transcript_writer
    from mock_server.transcript import Transcript

    azure_key = "0123456789abcdef0123456789abcdef"  # not shaped like an OpenAI key
    transcript = Transcript()
    transcript.add(0.0, "server", "error", event={"error": {"message": f"bad key {azure_key}"}})
    relayed = SimpleNamespace(
        number=1, api_key=None, relay=SimpleNamespace(secrets=[azure_key]), transcript=transcript
    )
    files = transcript_writer(tmp_path)
    files(relayed)  # type: ignore[arg-type]
    files.close()
    written = (tmp_path / "connection-0001.json").read_text()
    assert azure_key not in written and "bad key <redacted>" in written


# ---- serve: options with a scenario, transcripts off the loop (issue 13) -----------------------

SCENARIO = """\
name: tuned
description: A scenario with its own values for every option serve also has.
dialect: ga
pace: x3
seed: 7
max_duration: 10m
close_idle_after: 20s
steps:
  - expect: response.create
  - respond: {text: hi}
"""


def _mount_for(tmp_path: Path, *options: str) -> Mount:
    from harness.cli.serve import serve_mount
    from mock_server.scenario.loader import load_scenario
    from mock_server.scenario.served import ServedScenario

    path = tmp_path / "tuned.yaml"
    path.write_text(SCENARIO)
    args = build_parser().parse_args(["serve", "--scenario", str(path), *options])
    return serve_mount(args, ServedScenario(load_scenario(path)))


def test_with_a_scenario_the_options_not_given_keep_the_scenarios_values(tmp_path: Path) -> None:
    mount = _mount_for(tmp_path)
    assert (mount.pace, mount.seed, mount.max_duration_s, mount.close_idle_after_s) == (
        parse_pace("x3"),
        7,
        600.0,
        20.0,
    )
    assert (mount.dialect, mount.beta, mount.any_model, mount.api_keys) == (
        None,  # "auto": each handshake decides
        "retired",
        True,
        frozenset(),
    )


@pytest.mark.parametrize(
    ("options", "attribute", "value"),
    [
        (["--pace", "fast"], "pace", 0.0),
        (["--seed", "s1"], "seed", "s1"),
        (["--max-duration", "90s"], "max_duration_s", 90.0),
        (["--close-idle-after", "5s"], "close_idle_after_s", 5.0),
        (["--dialect", "beta"], "dialect", "beta"),
        (["--beta", "served"], "beta", "served"),
        (["--any-model"], "any_model", True),
        (["--api-key", "sk-a", "--api-key", "sk-b"], "api_keys", frozenset({"sk-a", "sk-b"})),
    ],
)
def test_with_a_scenario_an_option_given_wins(
    tmp_path: Path, options: list[str], attribute: str, value: object
) -> None:
    assert getattr(_mount_for(tmp_path, *options), attribute) == value


def test_serve_scenario_with_api_key_refuses_other_keys() -> None:
    process, ws_url = start_serve("--scenario", "text_turn", "--api-key", "sk-test-only")
    try:

        async def attempt(key: str) -> int | str:
            try:
                async with connect(ws_url, additional_headers={"Authorization": f"Bearer {key}"}):
                    return "accepted"
            except InvalidStatus as refused:
                return refused.response.status_code

        assert asyncio.run(attempt("sk-test-other")) == 401
        assert asyncio.run(attempt("sk-test-only")) == "accepted"
    finally:
        process.send_signal(signal.SIGTERM)
        process.wait(WAIT)


def _big_transcript(number: int, megabytes: int) -> Connection:
    """An ended connection holding ``megabytes`` of audio appends and many small events."""
    transcript = Transcript()
    chunk = base64.b64encode(bytes(range(256)) * 4096).decode()  # 1.4 MB of base64
    for index in range(megabytes):
        event = {"type": "input_audio_buffer.append", "audio": chunk, "event_id": f"e{index}"}
        transcript.add(float(index), "client", event["type"], event=event)
    for index in range(10_000):
        event = {"type": "response.output_text.delta", "delta": "word ", "item_id": f"i{index}"}
        transcript.add(float(index), "server", event["type"], event=event)
    conn = Connection(
        mount=Mount(),
        dialect=Dialect.GA,
        model="m",
        intent=None,
        api_key=None,
        transcript=transcript,
    )
    conn.number = number
    return conn


async def test_writing_a_large_transcript_does_not_delay_a_bystander_session(
    tmp_path: Path,
) -> None:
    """The issue's bound: a bystander's events are not delayed by more than 100 ms while a big
    transcript is written (written on the loop, this one stalled it for seconds). The machine
    running the suite is shared: its own hiccups are measured too, over as many round trips
    without the write, and the bound is on the 99th percentile (the old stall was one round
    trip of seconds among a few: its 99th percentile)."""
    from harness.cli.serve import transcript_writer

    big = _big_transcript(1, megabytes=20)
    files = transcript_writer(tmp_path)
    server = MockServer(port=0, default_mount=Mount(pace=0.0))
    bearer = {"Authorization": "Bearer sk-test"}
    async with server, connect(server.ws_url, additional_headers=bearer) as ws:
        await asyncio.wait_for(ws.recv(), WAIT)  # session.created

        async def round_trip() -> float:
            started = time.perf_counter()
            await ws.send(json.dumps({"type": "input_audio_buffer.clear"}))
            await asyncio.wait_for(ws.recv(), WAIT)  # input_audio_buffer.cleared
            return time.perf_counter() - started

        for _ in range(5):  # the first event of a process loads what the session needs
            await round_trip()
        during: list[float] = []
        written, going = asyncio.Event(), asyncio.Event()

        async def bystander() -> None:
            while not written.is_set() or len(during) < 20:
                during.append(await round_trip())
                going.set()

        trips = asyncio.ensure_future(bystander())
        await asyncio.wait_for(going.wait(), WAIT)  # a round trip is under way
        files(big)  # as the server calls it when a connection ends, on the loop
        await asyncio.wait_for(asyncio.to_thread(files.close), 120)
        written.set()
        await asyncio.wait_for(trips, WAIT)
        quiet = [await round_trip() for _ in range(min(len(during), 2000))]
    saved = json.loads((tmp_path / "connection-0001.json").read_text())
    assert len(saved["entries"]) == 20 + 10_000

    def p99(trips: list[float]) -> float:
        return sorted(trips)[int(len(trips) * 0.99)]

    added = p99(during) - p99(quiet)
    assert added < 0.100, f"p99 {p99(during) * 1000:.0f} ms vs {p99(quiet) * 1000:.0f} ms quiet"


def test_run_help_answers_the_question() -> None:
    text = subprocess.run(
        [sys.executable, "-m", "harness.cli", "run", "--help"],
        capture_output=True,
        text=True,
        timeout=60,
    ).stdout
    assert (
        "realtime-mock run --scenario text_turn --scenario function_call -- node agent.js" in text
    )
    for variable in ("OPENAI_BASE_URL", "OPENAI_WEBSOCKET_BASE_URL", "OPENAI_API_KEY",
                     "REALTIME_MOCK_URL", "REALTIME_MOCK_SCENARIO", "SSL_CERT_FILE"):  # fmt: skip
        assert variable in text, variable
    assert "0    every selected scenario passed" in text
    assert "1    a scenario failed" in text
    assert "2    usage or selection error" in text
    assert (
        "--tag TAG" in text and "--exclude-tag TAG" in text and "text          a text-only" in text
    )


def test_run_without_a_selection_from_a_missing_library_exits_2(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    import harness.runner

    monkeypatch.setattr(harness.runner, "library", lambda: [])
    assert main(["run", "--", "true"]) == 2
    assert "0 passed" not in capsys.readouterr().out


# ---- one module per command (issue 14) -------------------------------------------------------


def test_every_command_is_a_module_with_add_parser_and_run_and_answers_help(
    capsys: pytest.CaptureFixture[str],
) -> None:
    import argparse
    import inspect

    import harness.cli

    parser = build_parser()
    listed = next(
        a for a in parser._actions if isinstance(a, argparse._SubParsersAction)
    ).choices.keys()
    assert list(harness.cli.COMMANDS) == list(listed)
    for name, module in harness.cli.COMMANDS.items():
        assert module.__name__ == f"harness.cli.{name}"
        assert callable(module.add_parser) and callable(module.run), name
        assert list(inspect.signature(module.run).parameters) == ["args"], name
        with pytest.raises(SystemExit) as exit:
            main([name, "--help"])
        assert exit.value.code == 0, name
        out = capsys.readouterr().out
        assert out.startswith(f"usage: realtime-mock {name}"), (name, out[:200])
