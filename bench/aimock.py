"""Side by side with aimock: the same text-turn load on the mock and on aimock, in one run.

aimock (npm ``@copilotkit/aimock``) is the fastest peer the performance issue measured. Where
``node`` and ``npm`` are on the PATH, the package is installed with
``npm install --prefix <temp folder> @copilotkit/aimock@VERSION`` (so the npm registry, or
npm's cache, must be reachable) and started as ``node <package>/dist/cli.js --port P
--fixtures <temp>/fixtures.json --log-level warn``: its OpenAI Realtime GA WebSocket is
``/v1/realtime``, and the one fixture answers the user's ``hello`` with the mock's own default
reply text (so that both stream the same text). Where node or npm is missing or the install
fails, the aimock half is a row that says why and the mock half still runs.

Load: N concurrent GA sessions (``?model=gpt-realtime``, text output set once by
``session.update``) x T text turns each: a user ``input_text`` item by
``conversation.item.create``, ``response.create``, then wait for ``response.done``. Each server
runs on one core (``SERVER_CORE``), the load generator in its own process on the other. The
figures are the server's CPU (user + system, every thread, from /proc) over the turns alone,
per turn (handshakes and a warm-up of two turns are left out); turns per second of wall time;
and the server events a turn receives. The two servers alternate, mock then aimock, ``rounds``
times (A B A B), so that the machine's noise falls on both.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

from bench import Row, cpu_seconds, end, pin, python, subprocess_env

QUICK = {"sessions": 20, "turns": 10, "rounds": 1}
# The smoke test: no node, so the aimock half is skipped (no network) and the mock half is tiny.
TINY = {"sessions": 2, "turns": 2, "rounds": 1, "node": ""}

VERSION = "1.43.0"  # the version the performance issue measured
SERVER_CORE = 0
LOAD_CORE = 1
USER_TEXT = "hello"
INSTALL_TIMEOUT_S = 180
START_TIMEOUT_S = 30
LOAD_TIMEOUT_S = 300


@dataclass
class Measured:
    server: str
    turns: int
    seconds: float
    cpu_s: float | None
    events: int
    errors: int
    reply: str
    load_cpu_s: float

    @property
    def cpu_ms_per_turn(self) -> float | None:
        return None if self.cpu_s is None else self.cpu_s * 1000 / self.turns

    @property
    def load_cpu_ms_per_turn(self) -> float:
        return self.load_cpu_s * 1000 / self.turns

    @property
    def turns_per_s(self) -> float:
        return self.turns / self.seconds

    @property
    def events_per_turn(self) -> float:
        return self.events / self.turns


# ---- installing and starting aimock ---------------------------------------------------------


def unavailable(node: str, npm: str) -> str | None:
    """Why aimock cannot run here (node or npm not found), or None."""
    for tool, path in (("node", node), ("npm", npm)):
        if not path or shutil.which(path) is None:
            return f"aimock skipped: {tool} not found ({path or 'not on PATH'})"
    return None


def install(folder: Path, version: str, npm: str) -> Path | str:
    """Install the package into ``folder``: its CLI script, or why the install failed."""
    command = [npm, "install", "--prefix", str(folder), "--no-audit", "--no-fund"]
    # Without a network npm would retry for minutes: fail fast and say so in the row.
    command += ["--fetch-retries=1", "--fetch-timeout=20000", f"@copilotkit/aimock@{version}"]
    try:
        done = subprocess.run(
            command, capture_output=True, text=True, timeout=INSTALL_TIMEOUT_S, check=False
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        return f"aimock skipped: npm install @copilotkit/aimock@{version} failed: {exc}"
    package = folder / "node_modules" / "@copilotkit" / "aimock"
    if done.returncode != 0 or not (package / "dist" / "cli.js").exists():
        last = (done.stderr.strip().splitlines() or ["no output"])[-1]
        return f"aimock skipped: npm install @copilotkit/aimock@{version} failed: {last}"
    return package / "dist" / "cli.js"


def installed_version(cli: Path) -> str:
    return str(json.loads((cli.parent.parent / "package.json").read_text())["version"])


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _wait_listening(port: int, server: subprocess.Popen[str]) -> None:
    deadline = time.monotonic() + START_TIMEOUT_S
    while time.monotonic() < deadline:
        if server.poll() is not None:
            raise RuntimeError(f"the server exited with {server.returncode} before listening")
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return
        except OSError:
            time.sleep(0.05)
    raise RuntimeError(f"the server did not listen on port {port} in {START_TIMEOUT_S} s")


@contextmanager
def _started(command: list[str], log_path: Path, port: int | None) -> Iterator[tuple[int, str]]:
    """Start a server on ``SERVER_CORE``: (pid, url). The mock prints its URL; aimock is
    handed a port and waited for. Its output goes to a file (a pipe left unread can block it)."""
    log = log_path.open("w")
    server = subprocess.Popen(
        command,
        stdout=log,
        stderr=subprocess.STDOUT,
        text=True,
        env=subprocess_env(),
        preexec_fn=lambda: pin(SERVER_CORE),  # before exec: every thread it starts inherits it
    )
    try:
        if port is None:
            deadline = time.monotonic() + START_TIMEOUT_S
            while "listening on ws://" not in log_path.read_text():
                if server.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError(f"the mock did not start: {log_path.read_text()!r}")
                time.sleep(0.05)
            line = log_path.read_text().split("listening on ", 1)[1].split()[0]
            url = line.removesuffix("/v1/realtime") + "/v1/realtime"
        else:
            _wait_listening(port, server)
            url = f"ws://127.0.0.1:{port}/v1/realtime"
        yield server.pid, url + "?model=gpt-realtime"
    finally:
        end(server)
        log.close()


# ---- the load generator (its own process) ---------------------------------------------------


async def _load(url: str, sessions: int, turns: int, go: IO[str] | None) -> dict[str, Any]:
    """Open every session, then (after "go" on stdin, when a parent measures) run the turns.

    The client is bench/rawws.py's: frames built once, each server frame counted as it comes
    and decoded only when it may be an ``error``, the reply's text or ``response.done`` (so
    that what the load generator spends does not limit the turns/s of the server it drives)."""
    from bench import rawws

    headers = {"Authorization": "Bearer sk-bench"}
    gate = asyncio.Semaphore(32)
    content = [{"type": "input_text", "text": USER_TEXT}]
    item = rawws.json_frame(
        {
            "type": "conversation.item.create",
            "item": {"type": "message", "role": "user", "content": content},
        }
    )
    respond = rawws.json_frame({"type": "response.create"})
    text_only = rawws.json_frame(
        {"type": "session.update", "session": {"type": "realtime", "output_modalities": ["text"]}}
    )

    async def open_session() -> rawws.RawClient:
        async with gate:
            ws = await rawws.connect(url, headers, timeout=60)
            await asyncio.wait_for(ws.recv(), 60)  # session.created
            ws.send(text_only)
            while json.loads(await asyncio.wait_for(ws.recv(), 60))["type"] != "session.updated":
                pass
            return ws

    sockets = await asyncio.wait_for(
        asyncio.gather(*(open_session() for _ in range(sessions))), 120
    )
    if go is not None:
        print("ready", flush=True)
        await asyncio.get_running_loop().run_in_executor(None, go.readline)
    counts = {"events": 0, "errors": 0}
    replies: list[str] = []
    loop = asyncio.get_running_loop()

    async def converse(ws: rawws.RawClient) -> None:
        done: asyncio.Future[None] = loop.create_future()

        def on_text(frame: bytes) -> None:
            counts["events"] += 1
            if b"error" in frame or b"output_text.done" in frame or b"response.done" in frame:
                event = json.loads(frame)
                kind = event["type"]
                if kind == "error":
                    counts["errors"] += 1
                elif kind == "response.output_text.done":
                    replies.append(event["text"])
                elif kind == "response.done" and not done.done():
                    done.set_result(None)

        ws.on_text = on_text
        for _ in range(turns):
            ws.send(item)
            ws.send(respond)
            await done
            done = loop.create_future()

    started, load_cpu = time.perf_counter(), time.process_time()
    await asyncio.wait_for(asyncio.gather(*(converse(ws) for ws in sockets)), LOAD_TIMEOUT_S)
    seconds, load_cpu = time.perf_counter() - started, time.process_time() - load_cpu
    for ws in sockets:
        ws.close()
    return {
        "turns": sessions * turns,
        "seconds": seconds,
        "load_cpu_s": load_cpu,
        **counts,
        "reply": replies[0] if replies else "",
    }


def _drive(pid: int, url: str, sessions: int, turns: int) -> dict[str, Any]:
    """Run the load generator against a started server; the server's CPU over the turns."""
    command = [python(), "-m", "bench.aimock", "load", url, str(sessions), str(turns)]
    load = subprocess.Popen(
        command,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=subprocess_env(),
    )
    assert load.stdin is not None and load.stdout is not None
    try:
        ready = load.stdout.readline()  # every session open: the handshakes are not counted
        if ready.strip() != "ready":
            load.kill()
            raise RuntimeError(f"the load generator failed: {ready!r} {load.communicate()[1]}")
        before = cpu_seconds(pid)
        out, err = load.communicate("go\n", timeout=LOAD_TIMEOUT_S + 30)
        after = cpu_seconds(pid)
    finally:
        if load.poll() is None:
            load.kill()
            load.wait(10)
    if load.returncode != 0:
        raise RuntimeError(f"the load generator failed:\n{err[-2000:]}")
    result: dict[str, Any] = json.loads(out)
    result["cpu_s"] = None if before is None or after is None else after - before
    return result


def measure(
    server: str, command: list[str], port: int | None, sessions: int, turns: int, log: Path
) -> Measured:
    with _started(command, log, port) as (pid, url):
        _drive(pid, url, 1, 2)  # warm-up: lazy imports and JIT are not the turns' cost
        result = _drive(pid, url, sessions, turns)
    return Measured(
        server,
        result["turns"],
        result["seconds"],
        result["cpu_s"],
        result["events"],
        result["errors"],
        result["reply"],
        result["load_cpu_s"],
    )


# ---- the benchmark (the parent process) -----------------------------------------------------


def _figures(runs: list[Measured], figure: str, unit: str, digits: int) -> tuple[float | None, str]:
    """The mean of a figure over the rounds, and the text: the mean, then each round's."""
    values = [getattr(r, figure) for r in runs]
    if any(v is None for v in values):
        return None, "not measured (no /proc)"
    mean = sum(values) / len(values)
    each = ", ".join(f"{v:.{digits}f}" for v in values)
    return mean, f"{mean:.{digits}f} {unit} (rounds: {each})"


def rows_of(mock: list[Measured], aimock: list[Measured] | str, label: str) -> list[Row]:
    """The rows: each figure for the mock, for aimock (or why it was skipped), and the ratio."""
    load = f"{label}, one core"
    rows: list[Row] = []
    for figure, unit, digits, name, target in (
        ("cpu_ms_per_turn", "ms", 3, "server CPU per text turn", "target <= 1"),
        ("turns_per_s", "turns/s", 0, "turns per second", "target >= 1"),
        ("events_per_turn", "events", 1, "events per turn", "every required event kept"),
        # The client's side: where it nears a core, turns/s measures the client, not the server.
        ("load_cpu_ms_per_turn", "ms", 3, "load generator CPU per turn", "the client's cost"),
    ):
        ours, ours_text = _figures(mock, figure, unit, digits)
        if isinstance(aimock, str):
            rows.append((f"aimock: {name} ({load})", f"mock {ours_text}", aimock, "-"))
            continue
        theirs, theirs_text = _figures(aimock, figure, unit, digits)
        ratio = "-" if ours is None or not theirs else f"{ours / theirs:.2f}x aimock's ({target})"
        rows.append(
            (f"aimock: {name} ({load})", f"mock {ours_text}", f"aimock {theirs_text}", ratio)
        )
    errors = sum(r.errors for r in mock) + (
        0 if isinstance(aimock, str) else sum(r.errors for r in aimock)
    )
    if errors:
        rows.append((f"aimock: error events ({load})", str(errors), "0 expected", "-"))
    return rows


def run(
    sessions: int = 50,
    turns: int = 20,
    rounds: int = 3,
    version: str = VERSION,
    node: str = "node",
    npm: str = "npm",
) -> list[Row]:
    """``node`` and ``npm``: the commands (looked up on the PATH); "" skips aimock."""
    # Responses as fast as the server can send them: aimock does not pace text either.
    mock_command = [python(), "-m", "harness.cli", "serve", "--port", "0", "--seed", "1"]
    mock_command += ["--pace", "fast"]
    with tempfile.TemporaryDirectory(prefix="bench-aimock-") as temp:
        folder = Path(temp)
        why = unavailable(node, npm)
        cli = why or install(folder, version, npm)
        label = f"{sessions} sessions x {turns} turns"
        mock: list[Measured] = []
        peer: list[Measured] = []
        for round in range(max(1, rounds)):
            log = folder / f"mock-{round}.log"
            mock.append(measure("mock", mock_command, None, sessions, turns, log))
            if isinstance(cli, str):
                continue
            if not peer:
                label += f", aimock {installed_version(cli)}"
            fixtures = folder / "fixtures.json"
            reply = mock[0].reply or "Hello! How can I help you today?"
            fixture = {"match": {"userMessage": USER_TEXT}, "response": {"content": reply}}
            fixtures.write_text(json.dumps({"fixtures": [fixture]}))
            port = _free_port()
            command = [node, str(cli), "--port", str(port), "--fixtures", str(fixtures)]
            command += ["--log-level", "warn"]
            log = folder / f"aimock-{round}.log"
            peer.append(measure("aimock", command, port, sessions, turns, log))
    return rows_of(mock, cli if isinstance(cli, str) else peer, label)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    commands = parser.add_subparsers(dest="command", required=True)
    load = commands.add_parser("load", help="the load generator (a child of the benchmark)")
    load.add_argument("url")
    load.add_argument("sessions", type=int)
    load.add_argument("turns", type=int)
    args = parser.parse_args()
    pin(LOAD_CORE)
    print(json.dumps(asyncio.run(_load(args.url, args.sessions, args.turns, sys.stdin))))


if __name__ == "__main__":
    if len(sys.argv) > 1:
        main()
    else:
        for row in run():
            print(" | ".join(row))
