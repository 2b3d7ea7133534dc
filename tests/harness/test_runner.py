"""``realtime-mock run`` as CI runs it: real processes, real signals, JUnit parsed.

Clients that pass and fail; selection errors; the client's process group ended on the timeout,
on a signal and after it exits; the terminal's report of a failure; JUnit that stays
well-formed and keeps keys out.
"""

from __future__ import annotations

import asyncio
import os
import re
import signal
import socket
import subprocess
import sys
import time
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from harness import runner
from mock_server.scenario.loader import library, load_scenario, resolve_scenario
from mock_server.scenario.tags import CAPABILITY_TAGS

GOOD = """
import asyncio, os
from harness.client import ClientConfig, RealtimeClient

async def main():
    url = os.environ["REALTIME_MOCK_URL"]
    config = ClientConfig(url=url, api_key=os.environ["OPENAI_API_KEY"],
                          session={"output_modalities": ["text"]},
                          tools={"get_weather": lambda args: {"sky": "sunny"}})
    async with RealtimeClient(config) as client:
        turn = await client.say("Weather in Paris?")
        print("answer:", turn.text)

asyncio.run(main())
"""

BAD = """
import asyncio, json, os
from websockets.asyncio.client import connect

async def main():
    headers = {"Authorization": "Bearer " + os.environ["OPENAI_API_KEY"]}
    async with connect(os.environ["REALTIME_MOCK_URL"], additional_headers=headers) as ws:
        await ws.recv()
        await ws.send(json.dumps({"type": "response.create"}))
        while json.loads(await ws.recv())["type"] != "response.done":
            pass
        # Wrong: answers the tool with a call_id it made up.
        await ws.send(json.dumps({"type": "conversation.item.create", "item": {
            "type": "function_call_output", "call_id": "call_made_up", "output": "{}"}}))
    print("bad client done")

asyncio.run(main())
"""


def run(
    tmp_path: Path, client: str, *scenarios: str
) -> tuple[subprocess.CompletedProcess[str], ET.Element]:
    script = tmp_path / "client.py"
    script.write_text(client)
    junit = tmp_path / "junit.xml"
    args = [
        sys.executable,
        "-m",
        "harness.cli",
        "run",
        "--junit-xml",
        str(junit),
        "--timeout",
        "30",
    ]
    for name in scenarios:
        args += ["--scenario", name]
    result = subprocess.run(
        [*args, "--", sys.executable, str(script)], capture_output=True, text=True, timeout=120
    )
    return result, ET.parse(junit).getroot()


def test_a_passing_client(tmp_path: Path) -> None:
    result, suite = run(tmp_path, GOOD, "text_turn", "function_call")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "2 passed, 0 failed" in result.stdout
    assert (suite.get("tests"), suite.get("failures")) == ("2", "0")
    names = [case.get("name") for case in suite.iter("testcase")]
    assert names == ["text_turn", "function_call"]
    outputs = [case.findtext("system-out") for case in suite.iter("testcase")]
    assert "answer: It is sunny in Paris." in (outputs[1] or "")


WEBRTC = """
import asyncio, os
from harness.client.webrtc import WebRtcCall

async def main():
    url, key = os.environ["REALTIME_MOCK_CALLS_URL"], os.environ["OPENAI_API_KEY"]
    async with WebRtcCall(url, key) as call:
        await call.recv_until("session.created")
        call.send({"type": "conversation.item.create", "item": {"type": "message",
                   "role": "user", "content": [{"type": "input_text", "text": "Hi"}]}})
        call.send({"type": "response.create"})
        done = await call.recv_until("response.done")
        print("answer:", done["response"]["status"])

asyncio.run(main())
"""


def test_a_webrtc_client(tmp_path: Path) -> None:
    # What a browser driven by CMD does: its offer to REALTIME_MOCK_CALLS_URL.
    pytest.importorskip("aiortc")
    result, suite = run(tmp_path, WEBRTC, "text_turn")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "answer: completed" in (next(suite.iter("testcase")).findtext("system-out") or "")


def test_a_failing_client(tmp_path: Path) -> None:
    result, suite = run(tmp_path, BAD, "function_call")
    assert result.returncode == 1
    assert "FAIL" in result.stdout and "0 passed, 1 failed" in result.stdout
    assert suite.get("failures") == "1"
    failure = next(suite.iter("failure"))
    assert "call_made_up" in (failure.get("message") or "")
    assert "-> response.create" in (failure.text or "")


def test_a_crashing_client_and_a_missing_command(tmp_path: Path) -> None:
    result, suite = run(tmp_path, "raise SystemExit(3)", "text_turn")
    assert result.returncode == 1
    assert "the client exited with status 3" in (next(suite.iter("failure")).get("message") or "")
    usage = subprocess.run(
        [sys.executable, "-m", "harness.cli", "run", "--scenario", "text_turn"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert usage.returncode == 2
    assert "run needs a command after --" in usage.stderr


# ---- selection: never a green "0 passed" ----------------------------------------------------


def cli(*args: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "harness.cli", "run", *args],
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def test_an_unknown_scenario_is_a_usage_error_with_the_known_names() -> None:
    result = cli("--scenario", "nope", "--", "true")
    assert result.returncode == 2, result.stdout
    assert "no scenario 'nope'" in result.stdout
    assert "known scenarios: audio_vad, barge_in" in result.stdout
    assert "passed" not in result.stdout
    typo = cli("--scenario", "text_trun", "--", "true")
    assert typo.returncode == 2
    assert "Did you mean text_turn?" in typo.stdout


def test_an_unknown_tag_or_an_empty_selection_is_a_usage_error() -> None:
    typo = cli("--tag", "txt", "--", "true")
    assert typo.returncode == 2
    assert "no tag 'txt'. Did you mean text?" in typo.stdout
    empty = cli("--tag", "vad", "--exclude-tag", "audio", "--", "true")
    assert empty.returncode == 2
    assert "no scenario matches --tag vad --exclude-tag audio" in empty.stdout
    assert "passed" not in empty.stdout


def test_a_missing_library_is_a_usage_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(runner, "library", lambda: [])
    with pytest.raises(runner.SelectionError, match="scenario library was not found"):
        runner.select_scenarios([])
    assert asyncio.run(runner.run_main([], ["true"], None, 5.0)) == 2


def test_tags_select_by_capability() -> None:
    def names(
        *tags: str, exclude: tuple[str, ...] = (), scenarios: tuple[str, ...] = ()
    ) -> set[str]:
        chosen = runner.select_scenarios(list(scenarios), list(tags), list(exclude))
        return {loaded.scenario.name for loaded in chosen}

    text = names("text")
    assert {"text_turn", "function_call", "invalid_key"} <= text
    assert not {"audio_vad", "barge_in", "manual_commit"} & text
    assert names(exclude=("audio",)) == text  # every library scenario is one or the other
    assert names("tools", "auth") == {
        "function_call",
        "function_call_parallel",
        "function_call_sequential",
        "invalid_key",
        "key_in_query",
        "missing_key",
    }
    assert names("text", scenarios=("text_turn", "audio_vad")) == {"text_turn"}


def test_the_library_is_tagged_from_the_documented_vocabulary() -> None:
    docs = (Path(__file__).parents[2] / "docs" / "scenarios.md").read_text()
    for name in library():
        scenario = load_scenario(resolve_scenario(name)).scenario
        assert set(scenario.tags) <= set(CAPABILITY_TAGS), name
        assert ("text" in scenario.tags) != ("audio" in scenario.tags), name
    for tag in CAPABILITY_TAGS:
        assert f"`{tag}`" in docs, tag


# ---- the client's process group -------------------------------------------------------------


def _gone(pid: int) -> bool:
    """The process has ended (a zombie that its adopter has not reaped yet counts as ended)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except FileNotFoundError:
        return True
    return stat[stat.rindex(")") + 2] == "Z"


@pytest.mark.parametrize(
    "client",
    ["sleep 30", "sleep 30 & echo $!; sleep 30", "trap '' TERM; sleep 30"],
    ids=["child", "grandchild-holding-the-pipe", "ignores-SIGTERM"],
)
def test_the_timeout_ends_the_clients_whole_process_group(tmp_path: Path, client: str) -> None:
    junit = tmp_path / "junit.xml"
    with socket.create_server(("127.0.0.1", 0)) as listener:
        listener.settimeout(60)
        started = f"echo > /dev/tcp/127.0.0.1/{listener.getsockname()[1]}; "
        process = subprocess.Popen(
            [
                sys.executable, "-m", "harness.cli", "run", "--scenario", "text_turn",
                "--timeout", "2", "--junit-xml", str(junit), "--", "bash", "-c", started + client,
            ],
            stdout=subprocess.PIPE,
            text=True,
        )  # fmt: skip
        try:
            listener.accept()[0].close()  # the client has started: its 2 s run from here
            start = time.monotonic()
            stdout, _ = process.communicate(timeout=30)
            ended = time.monotonic()
        finally:
            process.kill()
    # The bound: run returns within a second of --timeout (a 1 s margin for a loaded
    # machine; the measure excludes the interpreter's start-up).
    assert ended - start < 4.0, stdout
    assert process.returncode == 1
    assert "did not finish within 2s: its process group was ended" in stdout
    out = ET.parse(junit).getroot().findtext("testcase/system-out") or ""
    for pid in re.findall(r"^\d+$", out, re.MULTILINE):
        assert _gone(int(pid)), f"the grandchild {pid} outlived run"


def test_what_a_finished_client_leaves_behind_is_ended(tmp_path: Path) -> None:
    # Before: run waited for the pipes, which the background sleep held for 30 s.
    junit = tmp_path / "junit.xml"
    start = time.monotonic()
    result = cli(
        "--scenario", "text_turn", "--junit-xml", str(junit), "--",
        "bash", "-c", "sleep 30 & echo $!",
    )  # fmt: skip
    assert time.monotonic() - start < 10.0, result.stdout
    assert result.returncode == 1  # no connection: the verdict fails, not the harness
    pid = int((ET.parse(junit).getroot().findtext("testcase/system-out") or "").strip())
    assert _gone(pid)


SIGNALLED = """
import os, socket, subprocess, sys, time
child = subprocess.Popen(["sleep", "30"])
print("client waiting", flush=True)  # before the report: the test signals run once it has it
with socket.create_connection(("127.0.0.1", int(os.environ["TEST_PORT"]))) as report:
    report.sendall(f"{os.getpid()} {child.pid}\\n".encode())
child.wait()
"""


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM], ids=["SIGINT", "SIGTERM"])
def test_a_signal_to_run_ends_the_client_and_still_writes_junit(
    tmp_path: Path, sig: signal.Signals
) -> None:
    script = tmp_path / "client.py"
    script.write_text(SIGNALLED)
    junit = tmp_path / "junit.xml"
    with socket.create_server(("127.0.0.1", 0)) as listener:
        listener.settimeout(60)
        run_process = subprocess.Popen(
            [
                sys.executable, "-m", "harness.cli", "run", "--junit-xml", str(junit),
                "--scenario", "text_turn", "--scenario", "function_call", "--",
                sys.executable, str(script),
            ],
            stdout=subprocess.PIPE,
            text=True,
            env={**os.environ, "TEST_PORT": str(listener.getsockname()[1])},
        )  # fmt: skip
        try:
            conn, _ = listener.accept()  # the client runs: it reports its pid and its child's
            with conn:
                conn.settimeout(60)
                pids = [int(p) for p in conn.makefile().readline().split()]
            run_process.send_signal(sig)
            stdout, _ = run_process.communicate(timeout=30)
        finally:
            run_process.kill()
    assert run_process.returncode == 128 + sig, stdout
    assert f"interrupted by {sig.name}" in stdout
    assert all(_gone(pid) for pid in pids)
    suite = ET.parse(junit).getroot()
    cases = {case.get("name"): case for case in suite.iter("testcase")}
    interrupted = cases["text_turn"].find("failure")
    assert interrupted is not None and "run was interrupted" in (interrupted.get("message") or "")
    assert "client waiting" in (cases["text_turn"].findtext("system-out") or "")
    assert cases["function_call"].find("skipped") is not None
    assert (suite.get("failures"), suite.get("skipped")) == ("1", "1")


def test_the_output_is_capped_while_it_is_read() -> None:
    captured = runner.CapturedOutput(head=10, tail=20)
    for n in range(10_000):
        captured.feed(f"line {n}\n".encode())
    assert len(captured.head) == 10 and len(captured.tail) <= 40  # bounded as it is fed
    text = captured.text()
    assert text.startswith("line 0\nlin") and text.endswith("line 9999\n")
    assert f"[... {captured.total - 30} bytes of output dropped ...]" in text


def test_a_flood_of_output_is_kept_as_head_and_tail(tmp_path: Path) -> None:
    flood = "import sys\nfor n in range(200_000): print('line', n)\nsys.exit(1)\n"
    result, suite = run(tmp_path, flood, "text_turn")
    assert result.returncode == 1
    out = suite.findtext("testcase/system-out") or ""
    assert len(out) < runner.OUTPUT_HEAD_BYTES + runner.OUTPUT_TAIL_BYTES + 100
    assert out.startswith("line 0\n") and out.rstrip().endswith("line 199999")
    assert "bytes of output dropped" in out
    assert "    | line 199999" in result.stdout  # the tail, on the terminal


# ---- what a failure shows -------------------------------------------------------------------

NOISY_BAD = BAD.replace(
    'print("bad client done")', 'print("bad client done"); print("warning: odd", file=sys.stderr)'
).replace("import asyncio, json, os", "import asyncio, json, os, sys")


def test_a_failure_shows_every_finding_and_the_output_tails(tmp_path: Path) -> None:
    result, _ = run(tmp_path, NOISY_BAD, "function_call")
    assert result.returncode == 1
    assert "more)" not in result.stdout
    findings = [line for line in result.stdout.splitlines() if line.startswith("    - ")]
    assert len(findings) >= 2, result.stdout
    assert any("call_made_up" in line for line in findings)
    assert "    | bad client done" in result.stdout
    assert "    | warning: odd" in result.stdout
    assert "-> response.create" not in result.stdout  # the timeline is for -v
    verbose = subprocess.run(
        [
            sys.executable, "-m", "harness.cli", "run", "-v", "--scenario", "function_call",
            "--", sys.executable, str(tmp_path / "client.py"),
        ],
        capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert "connection 1 /run/1/v1/realtime" in verbose.stdout
    assert "-> response.create" in verbose.stdout


def test_connections_count_from_one_per_scenario(tmp_path: Path) -> None:
    # Before: the second scenario's connection was "connection 2", by the server's counter.
    script = tmp_path / "client.py"
    script.write_text(
        "import os, runpy, sys\n"
        f"good, bad = {str(tmp_path / 'good.py')!r}, {str(tmp_path / 'bad.py')!r}\n"
        "runpy.run_path(good if os.environ['REALTIME_MOCK_SCENARIO'] == 'text_turn' else bad)\n"
    )
    (tmp_path / "good.py").write_text(GOOD)
    (tmp_path / "bad.py").write_text(BAD)
    junit = tmp_path / "junit.xml"
    result = cli(
        "--junit-xml", str(junit), "--scenario", "text_turn", "--scenario", "function_call",
        "--", sys.executable, str(script), timeout=120,
    )  # fmt: skip
    assert result.returncode == 1, result.stdout
    failure = next(ET.parse(junit).getroot().iter("failure"))
    assert "connection 1: " in (failure.get("message") or "")
    assert "connection 2" not in (failure.text or "")
    assert "connection 1 /run/2/v1/realtime" in (failure.text or "")


# ---- the client's exit status is part of the scenario ---------------------------------------

REFUSED = """
import asyncio, os, sys
from websockets.asyncio.client import connect
from websockets.exceptions import InvalidStatus

async def main():
    headers = {"Authorization": "Bearer " + os.environ["OPENAI_API_KEY"]}
    try:
        async with connect(os.environ["REALTIME_MOCK_URL"], additional_headers=headers):
            pass
    except InvalidStatus as refused:
        print("refused:", refused.response.status_code, file=sys.stderr)
        sys.exit(int(os.environ.get("EXIT_ON_REFUSAL", "1")))

asyncio.run(main())
"""


def test_a_refusal_scenario_wants_a_client_that_exits_non_zero(tmp_path: Path) -> None:
    result, _ = run(tmp_path, REFUSED, "invalid_key")
    assert result.returncode == 0, result.stdout
    quiet = REFUSED.replace('os.environ.get("EXIT_ON_REFUSAL", "1")', '"0"')
    result, _ = run(tmp_path, quiet, "invalid_key")
    assert result.returncode == 1
    assert "a correct client reports the failure here and exits non-zero" in result.stdout


def test_client_exit_any_accepts_either(tmp_path: Path) -> None:
    scenario = tmp_path / "either.yaml"
    scenario.write_text(
        (Path(__file__).parents[2] / "scenarios" / "invalid_key.yaml")
        .read_text()
        .replace("name: invalid_key", "name: either")
        .replace("client: {exit: nonzero}", "client: {exit: any}")
    )
    for code in ("0", "1"):
        result, _ = run(tmp_path, REFUSED.replace('"1"))', f'"{code}"))'), str(scenario))
        assert result.returncode == 0, result.stdout


# ---- JUnit XML ------------------------------------------------------------------------------

GARBLED = r"""
import asyncio, json, os, sys
from websockets.asyncio.client import connect

sys.stdout.write("\x1b[31mred\x1b[0m and a nul \x00 here\n")
sys.stdout.flush()
sys.stdout.buffer.write(b"lone surrogate: \xed\xa0\x80\n")
sys.stderr.write("\x1b[1mbold\x1b[0m \x07 bell\n")
sys.stdout.flush()

async def main():
    headers = {"Authorization": "Bearer " + os.environ["OPENAI_API_KEY"]}
    async with connect(os.environ["REALTIME_MOCK_URL"], additional_headers=headers) as ws:
        await ws.recv()
        # A lone surrogate and a NUL in JSON escapes reach the findings and the timeline.
        await ws.send('{"type": "conversation.item.create", "item": {"type": "message", '
                      '"role": "user", "content": [{"type": "input_text", '
                      '"text": "\\ud800 \\u0000 \\u001b[32m"}]}, "oops": "\\udfff"}')
        await ws.recv()
    sys.exit(1)

asyncio.run(main())
"""


def test_junit_is_well_formed_whatever_the_client_prints(tmp_path: Path) -> None:
    result, suite = run(tmp_path, GARBLED, "text_turn")  # ET.parse would raise if it were not
    assert result.returncode == 1
    text = (tmp_path / "junit.xml").read_text(encoding="utf-8")
    assert "\x1b" not in text and "\x00" not in text and "\x07" not in text
    out = suite.findtext("testcase/system-out") or ""
    assert "red and a nul \\x00 here" in out
    assert "lone surrogate: \ufffd" in out
    assert "bold \\x07 bell" in (suite.findtext("testcase/system-err") or "")
    # The timeline shows the event's lone surrogates escaped (which one fits the line varies).
    failure = next(suite.iter("failure")).text or ""
    assert "\\ud800" in failure or "\\udfff" in failure


def test_junit_never_carries_a_key_from_the_command_line(tmp_path: Path) -> None:
    junit = tmp_path / "junit.xml"
    secrets = ["sk-proj-SECRET12345", "ek_EPHEMERAL123", "hunter2", "tok3n", "plainvalue"]
    cli(
        "--scenario", "text_turn", "--timeout", "5", "--junit-xml", str(junit), "--",
        "env", "MY_API_KEY=plainvalue", "true", "sk-proj-SECRET12345", "--api-key", "hunter2",
        "--token=tok3n", "ek_EPHEMERAL123",
    )  # fmt: skip
    text = junit.read_text()
    assert all(secret not in text for secret in secrets), text
    command = ET.parse(junit).getroot().find("properties/property[@name='command']")
    assert command is not None
    assert command.get("value") == (
        "env MY_API_KEY=<redacted> true <redacted> --api-key <redacted> --token=<redacted> "
        "<redacted>"
    )


def test_redact_command_inside_a_shell_string() -> None:
    line = runner.redact_command(
        ["bash", "-c", "OPENAI_API_KEY=abc node a.js --api-key xyz -H 'Authorization: Bearer qq'"]
    )
    assert line == (
        "bash -c OPENAI_API_KEY=<redacted> node a.js --api-key <redacted> "
        "-H 'Authorization: Bearer <redacted>"
    )
    assert runner.redact_command(["python", "agent.py", "--keyboard", "qwerty"]) == (
        "python agent.py --keyboard qwerty"
    )


def test_lint_knows_the_client_field() -> None:
    from mock_server.scenario.loader import ScenarioError, load_scenario_text

    ok = load_scenario_text("name: x\ndescription: y\ntags: [text, mine]\nclient: {exit: any}\n")
    assert ok.scenario.client.exit == "any"
    assert load_scenario_text("name: x\ndescription: y\n").scenario.client.exit == "zero"
    with pytest.raises(ScenarioError, match=r"<scenario>:3:10: .*'zero', 'nonzero' or 'any'"):
        load_scenario_text("name: x\ndescription: y\nclient: {exit: maybe}\n")
