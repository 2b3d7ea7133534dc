"""``realtime-mock run -- CMD``: drive any client, in any language, through scenarios.

For each selected scenario the mock serves it under its own URL prefix and runs the command with:

- ``OPENAI_BASE_URL``: ``http://127.0.0.1:PORT/<prefix>/v1`` (what the openai SDKs read),
- ``OPENAI_WEBSOCKET_BASE_URL``: the ``ws://`` form, for clients that would derive ``wss://``,
- ``OPENAI_API_KEY``: a fake key the mock accepts,
- ``REALTIME_MOCK_URL``: the full ``ws://.../v1/realtime`` URL,
- ``REALTIME_MOCK_SCENARIO``: the scenario's name (a client can choose what to do by it).

With ``--tls`` the URLs are ``https://`` / ``wss://`` and ``SSL_CERT_FILE`` and
``NODE_EXTRA_CA_CERTS`` name the CA of the mock's certificate: some SDKs (the openai npm
package among them) only ever connect over ``wss://``.

A scenario passes when the command ends as the scenario's ``client: {exit: ...}`` says (exit 0
by default) within the timeout and the scenario's verdict is ok. The command runs in a session
(process group) of its own, with stdin from /dev/null: on the timeout, on SIGINT/SIGTERM to
``run``, and once the command itself has exited, its whole group gets SIGTERM, then SIGKILL
after a grace, so that ``bash -c``, ``npm start`` and their children never outlive it. Its
stdout and stderr are captured while they are read, bounded (the head and the tail of each).

Selecting nothing is an error, never a green "0 passed": an unknown scenario name, a tag no
scenario has, or a selection that leaves nothing exits 2 with the names that do exist. The
results are printed as they come (a failure in full: every finding, the tail of the client's
stdout and stderr, with ``-v`` the timeline), then as a table, and with ``--junit-xml`` as JUnit
XML (one test case a scenario; always well-formed XML, the command line with keys redacted).
The exit status is 0 when every scenario passed, 1 when any failed, 2 for a usage or selection
error, and 128 + the signal's number when ``run`` was interrupted.

The client's process is :mod:`harness.client_process`, the reports :mod:`harness.run_report`
(their names are importable from here as before).
"""

from __future__ import annotations

import asyncio
import difflib
import os
import signal
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from harness.client_process import (
    KILL_GRACE_S,
    OUTPUT_HEAD_BYTES,
    OUTPUT_TAIL_BYTES,
    CapturedOutput,
    capture_of,
    end_group,
)
from harness.run_report import Result, failure_report, junit_xml, redact_command, table
from harness.timeline import render_timeline
from mock_server.scenario.loader import (
    LoadedScenario,
    ScenarioError,
    library,
    load_scenario,
    resolve_scenario,
)
from mock_server.scenario.served import ServedScenario
from mock_server.scenario.tags import CAPABILITY_TAGS
from mock_server.server import MockServer, Mount

FAKE_KEY = "sk-realtime-mock"
# How long the client's pipes may stay open once its group is gone (held by a process that
# left the group), and how long its connections may take to close once it has ended.
DRAIN_S = 0.3
CLOSE_WAIT_S = 2.0


class SelectionError(Exception):
    """The command line selects no scenario, or names one that does not exist."""


# ---- selection ------------------------------------------------------------------------------


def _unknown(kind: str, name: str, known: list[str]) -> SelectionError:
    close = difflib.get_close_matches(name, known, n=3)
    hint = f" Did you mean {', '.join(close)}?" if close else ""
    listed = ", ".join(known) if known else "(none)"
    return SelectionError(f"no {kind} {name!r}.{hint}\nknown {kind}s: {listed}")


def select_scenarios(
    names: Sequence[str], tags: Sequence[str] = (), exclude_tags: Sequence[str] = ()
) -> list[LoadedScenario]:
    """The scenarios a command line selects: names or paths (default: the library), by tags.

    Raises :class:`SelectionError` when a name or tag is unknown or nothing is left, and
    :class:`ScenarioError` when a scenario file has problems.
    """
    known = library()
    if not names:
        if not known:
            raise SelectionError(
                "no scenario to run: the built-in scenario library was not found (is the "
                "package installed completely?); name scenario files with --scenario PATH"
            )
        names = known
    candidates: list[LoadedScenario] = []
    for name in names:
        candidate = Path(name)
        is_file = candidate.suffix in (".yaml", ".yml") or candidate.exists()
        if not is_file and name not in known:
            raise _unknown("scenario", name, known)
        candidates.append(load_scenario(resolve_scenario(name)))
    in_use = {tag for loaded in candidates for tag in loaded.scenario.tags}
    known_tags = sorted(in_use | set(CAPABILITY_TAGS))
    for tag in [*tags, *exclude_tags]:
        if tag not in known_tags:
            raise _unknown("tag", tag, known_tags)
    selected = [
        loaded
        for loaded in candidates
        if (not tags or set(tags) & set(loaded.scenario.tags))
        and not set(exclude_tags) & set(loaded.scenario.tags)
    ]
    if not selected:
        asked = [f"--tag {t}" for t in tags] + [f"--exclude-tag {t}" for t in exclude_tags]
        lines = [f"no scenario matches {' '.join(asked)}; of the candidates:"]
        lines += [f"  {c.scenario.name}: {', '.join(c.scenario.tags) or '-'}" for c in candidates]
        raise SelectionError("\n".join(lines))
    return selected


# ---- one scenario ---------------------------------------------------------------------------


def _exit_finding(expected: str, code: int) -> str | None:
    if code < 0:
        try:
            name = signal.Signals(-code).name
        except ValueError:
            name = f"signal {-code}"
        return f"the client was killed by {name}"
    if expected == "zero" and code != 0:
        return f"the client exited with status {code} (a correct client exits 0 here)"
    if expected == "nonzero" and code == 0:
        return (
            "the client exited 0; a correct client reports the failure here and exits "
            "non-zero (the scenario's client: {exit: nonzero})"
        )
    return None


def _environment(server: MockServer, mount: Mount, scenario: str) -> dict[str, str]:
    secure = server.tls_port is not None and server.ca_path is not None
    http, ws = ("https", "wss") if secure else ("http", "ws")
    env = {
        **os.environ,
        "OPENAI_BASE_URL": server.url_for(mount.prefix, scheme=http),
        "OPENAI_WEBSOCKET_BASE_URL": server.url_for(mount.prefix, scheme=ws, path="/v1"),
        "OPENAI_API_KEY": FAKE_KEY,
        "REALTIME_MOCK_URL": server.url_for(mount.prefix, scheme=ws),
        "REALTIME_MOCK_SCENARIO": scenario,
    }
    if secure:
        env["SSL_CERT_FILE"] = env["NODE_EXTRA_CA_CERTS"] = str(server.ca_path)
    return env


async def run_one(
    server: MockServer,
    loaded: LoadedScenario,
    command: list[str],
    timeout: float,
    index: int,
    interrupted: asyncio.Event | None = None,
    keep_input_audio: bool = False,
) -> Result:
    """Serve one scenario, run the client against it, and judge both (with
    ``keep_input_audio``, the transcripts keep the audio the client sent, for a report)."""
    play = ServedScenario(loaded, prefix=f"/run/{index}")
    name = play.scenario.name
    served = play.mount()
    served.keep_input_audio = keep_input_audio
    mount = server.mount(served)
    loop = asyncio.get_running_loop()
    stdout, stderr = CapturedOutput(), CapturedOutput()
    # Our own pipes, not asyncio's: its Process.wait() also waits for the pipes to close,
    # which a grandchild that inherited them can hold open for as long as it lives.
    pipes = [os.pipe(), os.pipe()]
    start = time.monotonic()
    try:
        process = await asyncio.create_subprocess_exec(
            *command,
            env=_environment(server, mount, name),
            stdin=asyncio.subprocess.DEVNULL,
            stdout=pipes[0][1],
            stderr=pipes[1][1],
            start_new_session=True,  # its own process group: ended as a whole, never orphaned
        )
    except OSError as exc:
        for read_end, _ in pipes:
            os.close(read_end)
        server.unmount(mount.prefix)
        what = redact_command(command[:1])
        return Result(name, False, None, 0.0, [f"cannot run {what}: {exc.strerror or exc}"])
    finally:
        for _, write_end in pipes:
            os.close(write_end)
    readers: list[asyncio.ReadTransport] = []
    drained: list[asyncio.Future[None]] = []
    for (read_end, _), sink in zip(pipes, (stdout, stderr), strict=True):
        ended: asyncio.Future[None] = loop.create_future()
        transport, _protocol = await loop.connect_read_pipe(
            capture_of(sink, ended), os.fdopen(read_end, "rb", buffering=0)
        )
        readers.append(transport)
        drained.append(ended)

    findings: list[str] = []
    exited = asyncio.ensure_future(process.wait())
    waits: set[asyncio.Future[Any]] = {exited}
    stop = asyncio.ensure_future(interrupted.wait()) if interrupted is not None else None
    if stop is not None:
        waits.add(stop)
    await asyncio.wait(waits, timeout=timeout, return_when=asyncio.FIRST_COMPLETED)
    exit_code: int | None = None
    if exited.done():
        exit_code = exited.result()
        # What it started and left behind still holds the pipes: a moment to finish, then it
        # ends with the group.
        await asyncio.wait(drained, timeout=DRAIN_S)
    elif stop is not None and stop.done():
        findings.append("run was interrupted: the client's process group was ended")
    else:
        findings.append(
            f"the client did not finish within {timeout:g}s: its process group was ended "
            f"(SIGTERM, then SIGKILL after {KILL_GRACE_S:g}s)"
        )
    if stop is not None:
        stop.cancel()
    await end_group(process, process.pid)
    exited.cancel()
    await asyncio.wait(drained, timeout=DRAIN_S)
    for transport in readers:
        transport.close()
    seconds = time.monotonic() - start

    try:
        await server.wait_for_sessions(at_most=0, timeout=CLOSE_WAIT_S)
    except TimeoutError:
        if exit_code is not None:
            findings.append("a connection was still open after the client exited")
    verdict = play.verdict()
    server.unmount(mount.prefix)
    if exit_code is not None:
        finding = _exit_finding(play.scenario.client.exit, exit_code)
        if finding:
            findings.append(finding)
    findings += verdict.findings
    connections = [c for c in server.connections if c.mount is mount]
    return Result(
        scenario=name,
        passed=not findings,
        exit_code=exit_code,
        seconds=seconds,
        findings=findings,
        stdout=stdout,
        stderr=stderr,
        timeline=render_timeline(
            [c.transcript for c in connections], numbers=[c.number for c in connections]
        ),
        verdict=verdict,
        connections=connections,
    )


# ---- the command ----------------------------------------------------------------------------


async def run_main(
    scenarios: list[str],
    command: list[str],
    junit: str | None,
    timeout: float,
    tls: bool = False,
    tags: Sequence[str] = (),
    exclude_tags: Sequence[str] = (),
    verbose: bool = False,
    html: str | None = None,
) -> int:
    try:
        selected = select_scenarios(scenarios, tags, exclude_tags)
    except SelectionError as error:
        print(f"realtime-mock run: {error}")
        return 2
    except ScenarioError as error:
        print(f"realtime-mock run: cannot use a scenario:\n{error}")
        return 2
    loop = asyncio.get_running_loop()
    interrupted = asyncio.Event()
    received: list[int] = []

    def interrupt(sig: int) -> None:
        received.append(sig)
        interrupted.set()

    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, interrupt, sig)
    results: list[Result] = []
    try:
        async with MockServer(port=0, tls=tls, default_mount=Mount(pace=0.0)) as server:
            for index, loaded in enumerate(selected, start=1):
                if interrupted.is_set():
                    name = loaded.scenario.name
                    results.append(Result(name, False, None, 0.0, skipped="run was interrupted"))
                    continue
                result = await run_one(
                    server, loaded, command, timeout, index, interrupted, html is not None
                )
                mark = "pass" if result.passed else "FAIL"
                print(f"{mark} {result.scenario} ({result.seconds:.2f}s)", flush=True)
                if not result.passed:
                    print(failure_report(result, verbose), flush=True)
                results.append(result)
    finally:
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.remove_signal_handler(sig)
    print("\n" + table(results))
    if junit:
        Path(junit).write_text(junit_xml(results, command), encoding="utf-8")
        print(f"JUnit XML written to {junit}")
    if html:
        from harness.run_report import html_report

        print(f"HTML report written to {html_report(html, results, command)}")
    if received:
        print(f"realtime-mock run: interrupted by {signal.Signals(received[0]).name}")
        return 128 + received[0]
    return 0 if all(r.passed for r in results) else 1


__all__ = [
    "FAKE_KEY",
    "OUTPUT_HEAD_BYTES",
    "OUTPUT_TAIL_BYTES",
    "CapturedOutput",
    "Result",
    "SelectionError",
    "end_group",
    "failure_report",
    "junit_xml",
    "redact_command",
    "run_main",
    "run_one",
    "select_scenarios",
    "table",
]
