"""``realtime-mock run`` against a client that passes and one that fails."""

from __future__ import annotations

import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

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
