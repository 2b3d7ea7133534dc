"""``realtime-mock run -- CMD``: drive any client, in any language, through scenarios.

For each scenario the mock serves it under its own URL prefix and runs the command with:

- ``OPENAI_BASE_URL``: ``http://127.0.0.1:PORT/<prefix>/v1`` (what the openai SDKs read),
- ``OPENAI_WEBSOCKET_BASE_URL``: the ``ws://`` form, for clients that would derive ``wss://``,
- ``OPENAI_API_KEY``: a fake key the mock accepts,
- ``REALTIME_MOCK_URL``: the full ``ws://.../v1/realtime`` URL,
- ``REALTIME_MOCK_SCENARIO``: the scenario's name (a client can choose what to do by it).

With ``--tls`` the URLs are ``https://`` / ``wss://`` and ``SSL_CERT_FILE`` and
``NODE_EXTRA_CA_CERTS`` name the CA of the mock's certificate: some SDKs (the openai npm
package among them) only ever connect over ``wss://``.

A scenario passes when the command exits 0 within the timeout and the scenario's verdict is
ok. The results are printed as a table and, with ``--junit-xml``, written as JUnit XML (one
test case a scenario, with the findings, the conversation timeline and the command's output
on failure). The exit status is 1 when anything failed.
"""

from __future__ import annotations

import asyncio
import os
import time
import xml.etree.ElementTree as ET
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from harness.timeline import render_timeline
from mock_server.scenario.loader import ScenarioError, library, load_scenario, resolve_scenario
from mock_server.scenario.play import ScenarioPlay
from mock_server.server import MockServer, Mount

FAKE_KEY = "sk-realtime-mock"
OUTPUT_LIMIT = 20_000


@dataclass
class Result:
    scenario: str
    passed: bool
    exit_code: int | None
    seconds: float
    findings: list[str] = field(default_factory=list)
    output: str = ""
    timeline: str = ""
    verdict: dict[str, Any] = field(default_factory=dict)


async def run_one(
    server: MockServer, name: str, command: list[str], timeout: float, index: int
) -> Result:
    path = resolve_scenario(name)
    play = ScenarioPlay(load_scenario(path), prefix=f"/run/{index}")
    mount = play.mount()
    server.mount(mount)
    secure = server.tls_port is not None and server.ca_path is not None
    host = f"127.0.0.1:{server.tls_port if secure else server.port}"
    http, ws = ("https", "wss") if secure else ("http", "ws")
    env = {
        **os.environ,
        "OPENAI_BASE_URL": f"{http}://{host}{mount.prefix}/v1",
        "OPENAI_WEBSOCKET_BASE_URL": f"{ws}://{host}{mount.prefix}/v1",
        "OPENAI_API_KEY": FAKE_KEY,
        "REALTIME_MOCK_URL": f"{ws}://{host}{mount.prefix}/v1/realtime",
        "REALTIME_MOCK_SCENARIO": play.scenario.name,
    }
    if secure:
        env["SSL_CERT_FILE"] = env["NODE_EXTRA_CA_CERTS"] = str(server.ca_path)
    start = time.monotonic()
    findings: list[str] = []
    try:
        process = await asyncio.create_subprocess_exec(
            *command,
            env=env,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.STDOUT,
        )
    except OSError as exc:
        server.unmount(mount.prefix)
        return Result(play.scenario.name, False, None, 0.0, [f"cannot run {command[0]}: {exc}"])
    try:
        output, _ = await asyncio.wait_for(process.communicate(), timeout)
        exit_code: int | None = process.returncode
    except TimeoutError:
        process.kill()
        output, _ = await process.communicate()
        exit_code = None
        findings.append(f"the client did not finish within {timeout:g}s (killed)")
    seconds = time.monotonic() - start
    try:
        await server.wait_for_sessions(at_most=0, timeout=5)
    except TimeoutError:
        findings.append("a connection was still open after the client exited")
    verdict = play.verdict()
    server.unmount(mount.prefix)
    if exit_code not in (0, None):
        findings.append(f"the client exited with status {exit_code}")
    findings += verdict["findings"]
    connections = [c.transcript for c in server.connections if c.mount is mount]
    return Result(
        scenario=play.scenario.name,
        passed=not findings,
        exit_code=exit_code,
        seconds=seconds,
        findings=findings,
        output=output.decode(errors="replace")[-OUTPUT_LIMIT:],
        timeline=render_timeline(connections),
        verdict=verdict,
    )


def table(results: list[Result]) -> str:
    rows = [("scenario", "verdict", "exit", "time", "findings")]
    for r in results:
        first = r.findings[0] if r.findings else ""
        more = f" (+{len(r.findings) - 1} more)" if len(r.findings) > 1 else ""
        exit_code = "-" if r.exit_code is None else str(r.exit_code)
        rows.append(
            (
                r.scenario,
                "pass" if r.passed else "FAIL",
                exit_code,
                f"{r.seconds:.2f}s",
                first[:90] + more,
            )
        )
    widths = [max(len(row[i]) for row in rows) for i in range(4)]
    lines = []
    for n, row in enumerate(rows):
        lines.append(
            "  ".join(cell.ljust(widths[i]) for i, cell in enumerate(row[:4])) + "  " + row[4]
        )
        if n == 0:
            lines.append("  ".join("-" * w for w in widths) + "  " + "-" * 8)
    passed = sum(r.passed for r in results)
    lines.append(f"\n{passed} passed, {len(results) - passed} failed")
    return "\n".join(lines)


def junit_xml(results: list[Result], command: list[str]) -> str:
    suite = ET.Element(
        "testsuite",
        name="realtime-mock",
        tests=str(len(results)),
        failures=str(sum(not r.passed for r in results)),
        errors="0",
        time=f"{sum(r.seconds for r in results):.3f}",
    )
    ET.SubElement(
        ET.SubElement(suite, "properties"), "property", name="command", value=" ".join(command)
    )
    for r in results:
        case = ET.SubElement(
            suite, "testcase", classname="realtime-mock", name=r.scenario, time=f"{r.seconds:.3f}"
        )
        if not r.passed:
            failure = ET.SubElement(case, "failure", message="; ".join(r.findings)[:500])
            failure.text = "\n".join(r.findings) + "\n\n" + r.timeline
        if r.output:
            ET.SubElement(case, "system-out").text = r.output
    ET.indent(suite)
    return (
        '<?xml version="1.0" encoding="utf-8"?>\n' + ET.tostring(suite, encoding="unicode") + "\n"
    )


async def run_main(
    scenarios: list[str], command: list[str], junit: str | None, timeout: float, tls: bool = False
) -> int:
    names = scenarios or library()
    try:
        for name in names:
            load_scenario(resolve_scenario(name))
    except ScenarioError as error:
        print(f"realtime-mock run: cannot use a scenario:\n{error}")
        return 2
    results: list[Result] = []
    async with MockServer(port=0, tls=tls, default_mount=Mount(pace=0.0)) as server:
        for index, name in enumerate(names, start=1):
            result = await run_one(server, name, command, timeout, index)
            mark = "pass" if result.passed else "FAIL"
            print(f"{mark} {result.scenario} ({result.seconds:.2f}s)", flush=True)
            results.append(result)
    print("\n" + table(results))
    if junit:
        Path(junit).write_text(junit_xml(results, command))
        print(f"JUnit XML written to {junit}")
    return 0 if all(r.passed for r in results) else 1
