"""The stress suite's machinery: a server in a thread, observers in another, an attacker here.

Each stress test (tests/mock_server/test_stress.py) runs one attack on one connection against a
real :class:`~mock_server.server.MockServer` on 127.0.0.1, while two observers time the server:
a **prober** that times ``GET /healthz`` every few milliseconds and a **bystander** session that
does ordinary turns and times each event it waits for. The same observers first run without the
attack (the baseline, in the same test, on the same server), so that the figure asserted is the
latency the attack *added*, not the noise of a shared machine.

Where things run, and why: the server has its own thread and loop (a stalled server loop is what
we measure); the observers have another thread and loop, so that neither the attacker's work nor
a stalled server loop can delay their clocks; the attacker runs in the test's own loop. Frames
the attacker sends are built before the attack starts, so that building them is not counted.
The GIL is shared, so the switch interval is lowered to 1 ms while a test measures (a thread that
wants the GIL waits at most that long for a busy one).

Memory is measured with ``tracemalloc`` inside the process (server and clients): the traced
memory once every session has ended must be back to what it was before the attack (caches that
outlive a session are leaks), and the peak during the attack must stay within a bound
proportional to what the attacker sent (a small frame must not make the server hold gigabytes).

Every frame any client receives is parsed strictly (no ``NaN``, ``Infinity``, ``-Infinity``);
every close code is recorded, and must be one the docs name, never 1011.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import json
import os
import sys
import threading
import time
import tracemalloc
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed

from mock_server.server import Connection, Mount, ThreadedMockServer
from tests.helpers import KEY, WAIT

# "long" runs every attack at the sizes of the report (minutes, gigabytes before the
# fixes); the CI size shows each bug on unfixed code and costs little once it is fixed.
LONG = os.environ.get("REALTIME_MOCK_STRESS") == "long" or os.environ.get("HYPOTHESIS_PROFILE") == (
    "long"
)
# The product's promise (issue 13): no client adds more than this to /healthz or a bystander.
ADDED_LATENCY_BOUND_S = 0.100
# What may stay traced after every session has ended (the validation caches' new entries, the
# logging of a traceback); a leak of a session's audio or transcript is megabytes.
RETAINED_BOUND_BYTES = 2 * 1024 * 1024
# The peak while the attack runs: its frames in flight on both sides (a frame, its text, its
# parse) and the session's own copies, proportional to what the attacker sent.
PEAK_FIXED_BYTES = 64 * 1024 * 1024
PEAK_PER_SENT_BYTE = 4
# Close codes the docs name (README "Limits and safety", docs/protocol-notes.md): the client's
# own close, going away (max duration, idle close, shutdown), invalid UTF-8, a frame too big,
# and the live service's refusals. tests/mock_server/test_stress.py checks each is documented.
DOCUMENTED_CLOSE_CODES = {
    1000: "normal",
    1001: "going away",
    1007: "invalid frame payload",
    1009: "message too big",
    4000: "refused (the live service's 4000)",
}
# How long the observers measure without the attack. The worst of a longer window is worse by
# chance alone on a busy machine, so this is about as long as a fixed attack lasts.
BASELINE_S = 1.0
PROBE_INTERVAL_S = 0.005
PROBE_TIMEOUT_S = 15.0


class NotStrictJson(ValueError):
    """A server frame with a token JSON does not have (``NaN``, ``Infinity``)."""


def _refuse_constant(token: str) -> Any:
    raise NotStrictJson(f"the frame holds the non-JSON token {token}")


def strict_json(text: str | bytes) -> Any:
    """Parse a server frame as RFC 8259 JSON: ``NaN`` and ``Infinity`` are refused.

    >>> strict_json('{"a": 1}')
    {'a': 1}
    >>> try:
    ...     strict_json('{"a": NaN}')
    ... except NotStrictJson as refused:
    ...     print(refused)
    the frame holds the non-JSON token NaN
    """
    return json.loads(text, parse_constant=_refuse_constant)


def slim(event: dict[str, Any]) -> dict[str, Any]:
    """What the oracles read of an event (a flood's events are not kept whole)."""
    kept = {k: event[k] for k in ("type", "item_id", "response_id", "call_id") if k in event}
    if isinstance(event.get("item"), dict):
        kept["item.id"] = event["item"].get("id")
        kept["item.role"] = event["item"].get("role")
        kept["item.type"] = event["item"].get("type")
    if isinstance(event.get("error"), dict):
        kept["error"] = {k: event["error"].get(k) for k in ("type", "code", "event_id", "param")}
    if isinstance(event.get("response"), dict):
        kept["response.status"] = event["response"].get("status")
        kept["response.id"] = event["response"].get("id")
    return kept


# ---- the observers --------------------------------------------------------------------------


@dataclass
class Observation:
    """What the observers saw over one window."""

    healthz_worst_s: float = 0.0
    healthz_probes: int = 0
    bystander_worst_s: float = 0.0
    bystander_waits: int = 0
    problems: list[str] = field(default_factory=list)
    bystander_close: int | None = None


class Observers:
    """The prober and the bystander, in a thread of their own with their own loop."""

    def __init__(self, port: int, bystander_url: str, *, max_seconds: float) -> None:
        self.port = port
        self.bystander_url = bystander_url
        self.max_seconds = max_seconds
        self.observation = Observation()
        self._stop = threading.Event()
        self._ready = threading.Event()
        self._thread = threading.Thread(target=self._main, name="stress-observers", daemon=True)

    def start(self) -> None:
        self._thread.start()
        if not self._ready.wait(WAIT + 5):
            raise AssertionError("the bystander could not open its session")

    def stop(self) -> Observation:
        self._stop.set()
        self._thread.join(PROBE_TIMEOUT_S + WAIT + 5)
        if self._thread.is_alive():
            self.observation.problems.append("the observers did not stop in time")
        return self.observation

    def _main(self) -> None:
        try:
            asyncio.run(self._observe())
        except Exception as exc:  # reported, not lost in a thread
            self.observation.problems.append(f"observers failed: {type(exc).__name__}: {exc}")
        finally:
            self._ready.set()

    async def _observe(self) -> None:
        ws = await connect(
            self.bystander_url, additional_headers=KEY, max_size=None, open_timeout=WAIT
        )
        try:
            await self._recv(ws, "session.created")
            await ws.send(json.dumps(_TEXT_ONLY))
            await self._recv(ws, "session.updated")
            self._ready.set()
            await asyncio.gather(self._probe(), self._turns(ws))
        finally:
            await ws.close()
            self.observation.bystander_close = ws.close_code

    def _running(self, started: float) -> bool:
        return not self._stop.is_set() and time.monotonic() - started < self.max_seconds

    async def _probe(self) -> None:
        started = time.monotonic()
        while self._running(started):
            t0 = time.perf_counter()
            try:
                status = await asyncio.wait_for(self._healthz(), PROBE_TIMEOUT_S)
                if status != 200:
                    self.observation.problems.append(f"/healthz answered {status}")
            except (TimeoutError, OSError, EOFError) as exc:  # EOF: closed unanswered
                self.observation.problems.append(f"/healthz failed: {type(exc).__name__} {exc}")
            latency = time.perf_counter() - t0
            self.observation.healthz_probes += 1
            self.observation.healthz_worst_s = max(self.observation.healthz_worst_s, latency)
            await asyncio.sleep(PROBE_INTERVAL_S)  # pacing, not synchronisation

    async def _healthz(self) -> int:
        reader, writer = await asyncio.open_connection("127.0.0.1", self.port)
        try:
            writer.write(b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n")
            head = await reader.readuntil(b"\r\n\r\n")
            return int(head.split(b" ", 2)[1])
        finally:
            writer.close()
            with contextlib.suppress(OSError):
                await writer.wait_closed()

    async def _recv(self, ws: ClientConnection, type_: str, since: float | None = None) -> Any:
        """The next event of ``type_``; every event waited for is timed."""
        while True:
            t0 = time.perf_counter() if since is None else since
            frame = await asyncio.wait_for(ws.recv(), WAIT)
            since = None
            latency = time.perf_counter() - t0
            self.observation.bystander_waits += 1
            self.observation.bystander_worst_s = max(self.observation.bystander_worst_s, latency)
            event = strict_json(frame)
            if event["type"] == "error":
                self.observation.problems.append(f"the bystander got an error: {event}")
            if event["type"] == type_:
                return event

    async def _turns(self, ws: ClientConnection) -> None:
        started = time.monotonic()
        n = 0
        try:
            while self._running(started):
                n += 1
                if n % 2:
                    update = {
                        "type": "session.update",
                        "session": {**_TEXT_SESSION, "instructions": f"Turn {n}."},
                    }
                    t0 = time.perf_counter()
                    await ws.send(json.dumps(update))
                    await self._recv(ws, "session.updated", t0)
                else:
                    item = {
                        "type": "conversation.item.create",
                        "item": {
                            "type": "message",
                            "role": "user",
                            "content": [{"type": "input_text", "text": f"Bystander turn {n}."}],
                        },
                    }
                    t0 = time.perf_counter()
                    await ws.send(json.dumps(item))
                    await self._recv(ws, "conversation.item.done", t0)
                    t0 = time.perf_counter()
                    await ws.send(json.dumps({"type": "response.create"}))
                    await self._recv(ws, "response.done", t0)
                await asyncio.sleep(PROBE_INTERVAL_S)
        except (TimeoutError, ConnectionClosed, NotStrictJson) as exc:
            self.observation.bystander_worst_s = max(self.observation.bystander_worst_s, WAIT)
            self.observation.problems.append(f"the bystander failed: {type(exc).__name__} {exc}")


_TEXT_SESSION = {"type": "realtime", "output_modalities": ["text"]}
_TEXT_ONLY = {"type": "session.update", "session": _TEXT_SESSION}


# ---- the attacker ---------------------------------------------------------------------------


class Attacker:
    """The attacking connection: it reads every frame (strictly) while the attack sends."""

    def __init__(self, ws: ClientConnection) -> None:
        self.ws = ws
        self.log: list[dict[str, Any]] = []
        self.problems: list[str] = []
        self.sent_bytes = 0
        self.sent_frames = 0
        self.close_code: int | None = None
        self._arrived = asyncio.Event()
        self._reader = asyncio.create_task(self._read())
        self._probes = 0

    async def _read(self) -> None:
        try:
            async for frame in self.ws:
                if isinstance(frame, bytes):
                    self.problems.append(f"a binary frame of {len(frame)} bytes")
                    continue
                try:
                    event = strict_json(frame)
                except NotStrictJson as exc:
                    self.problems.append(f"{exc}: {frame[:300]}")
                    continue
                self.log.append(slim(event))
                if event.get("type") == "error" and event["error"].get("type") == "server_error":
                    self.problems.append(f"server_error: {event['error'].get('message')}"[:500])
                self._arrived.set()
        except ConnectionClosed:
            pass
        finally:
            self._record_close()
            self._arrived.set()

    def _record_close(self) -> None:
        if self.ws.close_code is not None and self.close_code is None:
            self.close_code = self.ws.close_code

    @property
    def open(self) -> bool:
        return not self._reader.done()

    async def send(self, frame: str | bytes) -> None:
        if not self.open:
            return  # the server closed: the rest of the attack has nowhere to go
        self.sent_bytes += len(frame)
        self.sent_frames += 1
        with contextlib.suppress(ConnectionClosed):
            await self.ws.send(frame)

    async def send_event(self, event: dict[str, Any]) -> None:
        await self.send(json.dumps(event))

    async def until(
        self, condition: Callable[[dict[str, Any]], bool], what: str, timeout: float = WAIT
    ) -> dict[str, Any] | None:
        """The first logged event (from the start) that meets ``condition``; None if the
        connection closed first. A timeout is a problem of the attack, recorded, not raised."""
        deadline = time.monotonic() + timeout
        seen = 0
        while True:
            for event in self.log[seen:]:
                if condition(event):
                    return event
            seen = len(self.log)
            if not self.open:
                return None
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                self.problems.append(f"timed out waiting for {what}")
                return None
            self._arrived.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._arrived.wait(), remaining)

    async def count(
        self,
        condition: Callable[[dict[str, Any]], bool],
        n: int,
        what: str,
        timeout: float = WAIT,
    ) -> int:
        """Wait until ``n`` logged events meet ``condition``; how many did."""
        deadline = time.monotonic() + timeout
        while True:
            found = sum(1 for e in self.log if condition(e))
            if found >= n or not self.open:
                return found
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                self.problems.append(f"timed out waiting for {what} ({found} of {n})")
                return found
            self._arrived.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._arrived.wait(), remaining)

    async def alive(self) -> bool:
        """The session still answers (a retrieve of an item that does not exist)."""
        self._probes += 1
        probe_id = f"stress_probe_{self._probes}"
        await self.send_event(
            {"type": "conversation.item.retrieve", "item_id": probe_id, "event_id": probe_id}
        )
        answer = await self.until(
            lambda e: e.get("error", {}).get("event_id") == probe_id,
            "the liveness probe",
            timeout=PROBE_TIMEOUT_S,
        )
        return answer is not None

    async def close(self) -> None:
        with contextlib.suppress(ConnectionClosed):
            await asyncio.wait_for(self.ws.close(), WAIT)
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._reader, WAIT)
        self._record_close()


# ---- one measurement --------------------------------------------------------------------------

Attack = Callable[[Attacker], Awaitable[None]]


@dataclass
class Report:
    """One attack's figures (a table row) and what went wrong."""

    name: str
    baseline: Observation
    attack: Observation
    retained_bytes: int = 0
    peak_bytes: int = 0
    sent_bytes: int = 0
    attacker_close: int | None = None
    attacker_alive: bool = True
    problems: list[str] = field(default_factory=list)
    findings: list[str] = field(default_factory=list)
    elapsed_s: float = 0.0

    @property
    def added_healthz_s(self) -> float:
        return self.attack.healthz_worst_s - self.baseline.healthz_worst_s

    @property
    def added_bystander_s(self) -> float:
        return self.attack.bystander_worst_s - self.baseline.bystander_worst_s

    def row(self) -> str:
        return (
            f"{self.name}: /healthz worst {self.attack.healthz_worst_s * 1000:.0f} ms "
            f"(baseline {self.baseline.healthz_worst_s * 1000:.0f} ms, "
            f"{self.attack.healthz_probes} probes), bystander worst "
            f"{self.attack.bystander_worst_s * 1000:.0f} ms (baseline "
            f"{self.baseline.bystander_worst_s * 1000:.0f} ms), peak "
            f"{self.peak_bytes / 2**20:.1f} MiB for {self.sent_bytes / 2**20:.1f} MiB sent, "
            f"retained {self.retained_bytes / 2**10:.0f} KiB, close {self.attacker_close}, "
            f"{self.elapsed_s:.1f} s"
        )

    def failures(self) -> list[str]:
        """Every way the invariant was broken (empty: it held)."""
        failed = list(self.problems)
        for label, added in (
            ("/healthz", self.added_healthz_s),
            ("the bystander", self.added_bystander_s),
        ):
            if added >= ADDED_LATENCY_BOUND_S:
                failed.append(
                    f"the attack added {added * 1000:.0f} ms to {label}'s worst latency "
                    f"(bound {ADDED_LATENCY_BOUND_S * 1000:.0f} ms)"
                )
        failed += [f"baseline: {p}" for p in self.baseline.problems]
        failed += [f"during the attack: {p}" for p in self.attack.problems]
        for who, code in (
            ("the attacker", self.attacker_close),
            ("the bystander", self.attack.bystander_close),
        ):
            if code not in DOCUMENTED_CLOSE_CODES:
                failed.append(f"{who}'s connection closed with {code}, not a documented code")
        if not self.attacker_alive:
            failed.append("the attacker's session stopped answering (and was not closed)")
        if self.retained_bytes > RETAINED_BOUND_BYTES:
            failed.append(
                f"{self.retained_bytes / 2**20:.1f} MiB stay traced after every session ended "
                f"(bound {RETAINED_BOUND_BYTES / 2**20:.0f} MiB)"
            )
        peak_bound = PEAK_FIXED_BYTES + PEAK_PER_SENT_BYTE * self.sent_bytes
        if self.peak_bytes > peak_bound:
            failed.append(
                f"memory peaked {self.peak_bytes / 2**20:.0f} MiB over the baseline for "
                f"{self.sent_bytes / 2**20:.1f} MiB sent (bound {peak_bound / 2**20:.0f} MiB)"
            )
        return failed


@dataclass
class Target:
    """Where the attack connects: the mount it gets (its pace, its clock)."""

    mount: Mount = field(default_factory=lambda: Mount(pace=1.0, seed=13))
    prepare: Callable[[], Any] | None = None  # builds the frames, before anything is measured


class StressServer:
    """A server for one test: the bystander's mount and the attacker's, ended sessions dropped
    (``keep_ended=0``), and what each connection's transcript found, kept by number."""

    ATTACK_PREFIX = "/attack"

    def __init__(self, attack_mount: Mount) -> None:
        # The finding kinds of each ended connection on the attack mount (the last one is the
        # attacker's; the warm-up's comes first).
        self.attack_findings: list[list[str]] = []
        attack_mount.prefix = self.ATTACK_PREFIX
        self.threaded = ThreadedMockServer(
            port=0,
            default_mount=Mount(pace=0.0, seed=7),
            keep_ended=0,
            on_connection_end=self._ended,
        )
        self.attack_mount = attack_mount

    def _ended(self, conn: Connection) -> None:
        if conn.mount is self.attack_mount:
            self.attack_findings.append(sorted({f.kind for f in conn.transcript.findings()}))

    def __enter__(self) -> StressServer:
        server = self.threaded.start()
        server.mount(self.attack_mount)
        self.port = server.port
        self.bystander_url = server.ws_url
        self.attack_url = server.ws_url.replace("/v1/", f"{self.ATTACK_PREFIX}/v1/")
        return self

    def __exit__(self, *exc: object) -> None:
        self.threaded.stop()

    def open_sessions(self) -> int:
        return int(self.threaded.call(lambda: self.threaded.server.open_sessions))

    async def settle(self) -> None:
        """Every session has ended on the server side (bounded)."""
        deadline = time.monotonic() + WAIT
        while self.open_sessions() > 0:
            if time.monotonic() > deadline:
                raise AssertionError("sessions still open on the server after the clients left")
            await asyncio.sleep(0.01)


async def warm_up(server: StressServer) -> None:
    """One of each ordinary thing on both mounts, so that first-use imports and caches (the SDK
    models, the VAD, schema synthesis) are neither timed nor counted as the attack's memory."""
    for url in (server.bystander_url, server.attack_url):
        async with connect(url, additional_headers=KEY, max_size=None) as ws:
            attacker = Attacker(ws)
            await attacker.send_event(
                {
                    "type": "session.update",
                    "session": {
                        "type": "realtime",
                        "output_modalities": ["text"],
                        "tools": [
                            {
                                "type": "function",
                                "name": "f",
                                "parameters": {
                                    "type": "object",
                                    "properties": {"a": {"type": "string"}},
                                },
                            }
                        ],
                        "tool_choice": "required",
                    },
                }
            )
            await attacker.send_event({"type": "response.create"})
            await attacker.send_event(
                {
                    "type": "response.create",
                    "response": {"conversation": "none", "tool_choice": "none"},
                }
            )
            await attacker.send_event({"type": "input_audio_buffer.append", "audio": "AAAA" * 4800})
            await attacker.send_event({"type": "input_audio_buffer.commit"})
            await attacker.alive()
            await attacker.close()
    await server.settle()


async def _window(
    server: StressServer, attack: Attack | None, target: Target, report: Report
) -> tuple[Observation, Attacker | None]:
    observers = Observers(server.port, server.bystander_url, max_seconds=120)
    attacker: Attacker | None = None
    if attack is not None:
        ws = await connect(
            server.attack_url, additional_headers=KEY, max_size=None, open_timeout=WAIT
        )
        attacker = Attacker(ws)
        await attacker.until(lambda e: e["type"] == "session.created", "session.created")
        setup = getattr(attack, "setup", None)
        if setup is not None:
            await setup(attacker)  # its memory counts, its time does not (see large configs)
    observers.start()
    try:
        if attack is None or attacker is None:
            await _idle(BASELINE_S)
        else:
            try:
                await attack(attacker)
                if attacker.open:
                    report.attacker_alive = await attacker.alive()
            finally:
                await attacker.close()
            await _idle(0.2)  # a tail: the attack's after-effects on the loop are measured too
    finally:
        observation = observers.stop()
    return observation, attacker


async def _idle(seconds: float) -> None:
    await asyncio.sleep(seconds)  # the observers measure meanwhile; nothing waits on this


async def measure(name: str, attack: Attack, target: Target) -> Report:
    """Baseline, then the attack, on a fresh server; the figures and the memory."""
    started = time.monotonic()
    switch = sys.getswitchinterval()
    sys.setswitchinterval(0.001)
    if target.prepare is not None:
        target.prepare()
    report = Report(name, Observation(), Observation())
    with StressServer(target.mount) as server:
        await warm_up(server)
        gc.collect()
        tracemalloc.start()
        try:
            report.baseline, _ = await _window(server, None, target, report)
            await server.settle()
            gc.collect()
            before = tracemalloc.get_traced_memory()[0]
            tracemalloc.reset_peak()
            report.attack, attacker = await _window(server, attack, target, report)
            await server.settle()
            assert attacker is not None
            report.peak_bytes = tracemalloc.get_traced_memory()[1] - before
            report.sent_bytes = attacker.sent_bytes
            report.attacker_close = attacker.close_code
            report.problems += attacker.problems
            report.findings = server.attack_findings[-1] if server.attack_findings else []
            oracle = getattr(attack, "oracle", None)
            if oracle is not None:
                report.problems += oracle(attacker.log, report)
            attacker.log.clear()
            del attacker
            gc.collect()
            report.retained_bytes = tracemalloc.get_traced_memory()[0] - before
        finally:
            tracemalloc.stop()
            sys.setswitchinterval(switch)
    report.elapsed_s = time.monotonic() - started
    return report
