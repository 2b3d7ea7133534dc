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
"""

from __future__ import annotations

import asyncio
import contextlib
import difflib
import os
import re
import signal
import time
import xml.etree.ElementTree as ET
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

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
from mock_server.scenario.verdict import ScenarioVerdict
from mock_server.server import MockServer, Mount
from mock_server.transcript import REDACTED, SECRET_WORDS, redact_text

FAKE_KEY = "sk-realtime-mock"
# What is kept of each of the client's streams, while it is read: its first and last bytes.
OUTPUT_HEAD_BYTES = 4_000
OUTPUT_TAIL_BYTES = 16_000
# Lines of each stream's tail shown on the terminal for a failure.
TAIL_LINES = 20
TAIL_LINE_CHARS = 400
# SIGTERM to the client's process group, then SIGKILL this long after.
KILL_GRACE_S = 0.5
# How long the client's pipes may stay open once its group is gone (held by a process that
# left the group), and how long its connections may take to close once it has ended.
DRAIN_S = 0.3
CLOSE_WAIT_S = 2.0


class SelectionError(Exception):
    """The command line selects no scenario, or names one that does not exist."""


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


def _capture_of(sink: CapturedOutput, ended: asyncio.Future[None]) -> Callable[[], _Capture]:
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


# ---- redaction and XML ----------------------------------------------------------------------

_SECRET_WORD = rf"(?:{SECRET_WORDS})"  # the transcript's own vocabulary
_SECRET_OPTION = re.compile(rf"^--?[\w-]*{_SECRET_WORD}$", re.IGNORECASE)
_SECRET_TEXT = [
    # --api-key=X, --api-key X (inside a shell string), Authorization: Bearer X
    re.compile(rf"(--?[\w-]*{_SECRET_WORD})(=|\s+)(?!-)(\S+)", re.IGNORECASE),
    # OPENAI_API_KEY=X, api_key=X, AUTH_TOKEN=X
    re.compile(rf"\b([A-Za-z_][\w]*{_SECRET_WORD}[\w]*)(=)(\S+)", re.IGNORECASE),
    re.compile(r"\b(Bearer)(\s+)(\S+)", re.IGNORECASE),
]


def redact_command(command: Iterable[str]) -> str:
    """The command line as a report may show it: keys and tokens replaced.

    >>> redact_command(["node", "a.js", "--api-key", "abc123", "OPENAI_API_KEY=sk-x"])
    'node a.js --api-key <redacted> OPENAI_API_KEY=<redacted>'
    """
    out: list[str] = []
    for word in command:
        if out and _SECRET_OPTION.match(out[-1]) and not word.startswith("-"):
            out.append(REDACTED)
            continue
        for pattern in _SECRET_TEXT:
            word = pattern.sub(lambda m: f"{m.group(1)}{m.group(2)}{REDACTED}", word)
        out.append(redact_text(word))
    return " ".join(out)


# Terminal control sequences (colours, cursor moves, titles): CSI, OSC and two-byte escapes.
_ANSI = re.compile(r"\x1b(?:\[[0-?]*[ -/]*[@-~]|\][^\x07\x1b]*(?:\x07|\x1b\\)?|[@-Z\\-_])")
# What XML 1.0 cannot carry at all, not even as a character reference.
_XML_ILLEGAL = re.compile("[^\t\n\r\x20-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")


def xml_safe(text: str) -> str:
    """``text`` without terminal escapes, other characters XML cannot hold written as ``\\xNN``.

    >>> xml_safe("\\x1b[31mred\\x1b[0m \\x00 \\ud800")
    'red \\\\x00 \\\\ud800'
    """
    text = _ANSI.sub("", text)
    return _XML_ILLEGAL.sub(
        lambda m: f"\\x{ord(m[0]):02x}" if ord(m[0]) < 0x100 else f"\\u{ord(m[0]):04x}", text
    )


def printable(text: str) -> str:
    """``text`` as a terminal can print it (lone surrogates from a client's JSON escaped)."""
    return text.encode("utf-8", "backslashreplace").decode("utf-8")


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


@dataclass
class Result:
    scenario: str
    passed: bool
    exit_code: int | None
    seconds: float
    findings: list[str] = field(default_factory=list)
    stdout: CapturedOutput = field(default_factory=CapturedOutput)
    stderr: CapturedOutput = field(default_factory=CapturedOutput)
    timeline: str = ""
    verdict: ScenarioVerdict | None = None  # None: it did not run
    skipped: str | None = None  # why it did not run (run was interrupted)


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
    host = f"127.0.0.1:{server.tls_port if secure else server.port}"
    http, ws = ("https", "wss") if secure else ("http", "ws")
    env = {
        **os.environ,
        "OPENAI_BASE_URL": f"{http}://{host}{mount.prefix}/v1",
        "OPENAI_WEBSOCKET_BASE_URL": f"{ws}://{host}{mount.prefix}/v1",
        "OPENAI_API_KEY": FAKE_KEY,
        "REALTIME_MOCK_URL": f"{ws}://{host}{mount.prefix}/v1/realtime",
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
) -> Result:
    """Serve one scenario, run the client against it, and judge both."""
    play = ServedScenario(loaded, prefix=f"/run/{index}")
    name = play.scenario.name
    mount = server.mount(play.mount())
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
            _capture_of(sink, ended), os.fdopen(read_end, "rb", buffering=0)
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
    )


# ---- reports --------------------------------------------------------------------------------


def _clip(line: str, width: int = TAIL_LINE_CHARS) -> str:
    return line if len(line) <= width else line[: width - 3] + "..."


def failure_report(result: Result, verbose: bool = False) -> str:
    """What the terminal shows of a failed scenario: every finding, the output's tails."""
    lines = ["  findings:"]
    lines += [f"    - {finding}" for finding in result.findings]
    for label, stream in (("stdout", result.stdout), ("stderr", result.stderr)):
        tail, total = stream.tail_lines()
        if not tail:
            lines.append(f"  {label}: (empty)")
            continue
        lines.append(f"  {label} (last {len(tail)} lines):" if total > len(tail) else f"  {label}:")
        lines += [f"    | {_clip(line)}" for line in tail]
    if verbose:
        lines.append("  timeline:")
        lines += [f"    {line}" for line in (result.timeline or "(no connection)").splitlines()]
    else:
        lines.append("  (-v adds the timeline)")
    return printable("\n".join(lines))


def table(results: list[Result]) -> str:
    rows = [("scenario", "verdict", "exit", "time", "findings")]
    for r in results:
        exit_code = "-" if r.exit_code is None else str(r.exit_code)
        verdict = "skip" if r.skipped else "pass" if r.passed else "FAIL"
        rows.append((r.scenario, verdict, exit_code, f"{r.seconds:.2f}s", str(len(r.findings))))
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    lines = []
    for n, row in enumerate(rows):
        lines.append("  ".join(cell.ljust(widths[i]) for i, cell in enumerate(row)).rstrip())
        if n == 0:
            lines.append("  ".join("-" * w for w in widths))
    ran = [r for r in results if not r.skipped]
    passed = sum(r.passed for r in ran)
    summary = f"\n{passed} passed, {len(ran) - passed} failed"
    if len(ran) < len(results):
        summary += f", {len(results) - len(ran)} not run"
    return printable("\n".join(lines) + summary)


def junit_xml(results: list[Result], command: list[str]) -> str:
    """The results as JUnit XML: well-formed whatever the client printed, keys redacted."""
    ran = [r for r in results if not r.skipped]
    suite = ET.Element(
        "testsuite",
        name="realtime-mock",
        tests=str(len(results)),
        failures=str(sum(not r.passed for r in ran)),
        errors="0",
        skipped=str(len(results) - len(ran)),
        time=f"{sum(r.seconds for r in results):.3f}",
    )
    ET.SubElement(
        ET.SubElement(suite, "properties"),
        "property",
        name="command",
        value=xml_safe(redact_command(command)),
    )
    for r in results:
        case = ET.SubElement(
            suite,
            "testcase",
            classname="realtime-mock",
            name=xml_safe(r.scenario),
            time=f"{r.seconds:.3f}",
        )
        if r.skipped:
            ET.SubElement(case, "skipped", message=xml_safe(r.skipped))
            continue
        if not r.passed:
            message = "; ".join(r.findings)
            failure = ET.SubElement(case, "failure", message=xml_safe(message[:500]))
            failure.text = xml_safe("\n".join(r.findings) + "\n\n" + r.timeline)
        for tag, stream in (("system-out", r.stdout), ("system-err", r.stderr)):
            if stream.total:
                ET.SubElement(case, tag).text = xml_safe(stream.text())
    ET.indent(suite)
    return (
        '<?xml version="1.0" encoding="utf-8"?>\n' + ET.tostring(suite, encoding="unicode") + "\n"
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
                result = await run_one(server, loaded, command, timeout, index, interrupted)
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
    if received:
        print(f"realtime-mock run: interrupted by {signal.Signals(received[0]).name}")
        return 128 + received[0]
    return 0 if all(r.passed for r in results) else 1
