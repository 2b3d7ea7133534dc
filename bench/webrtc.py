"""WebRTC sessions on one core, against WebSocket sessions, audio in and out.

The mock runs in a subprocess pinned to one core; a load generator in another process (pinned
to the other core) holds N sessions for S seconds, each speaking in real time cycles of 3 s
(the ``question`` fixture, then silence) with the default server VAD, so that every cycle is a
turn the mock answers with spoken audio. Over WebSocket the audio goes as 20 ms appends and the
reply as deltas; over WebRTC on the microphone's Opus track and the server's track (aiortc
decoding, resampling and encoding on the server's core). The figure is the server's CPU per
session per second (what share of one core a session costs), so the sessions one core holds is
its inverse; both transports are measured in the same run, interleaved, and the ratio is the
row's. Turns heard are counted, so that a probe that did no work cannot pass for a cheap one.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import json
import subprocess
import sys
import time
from typing import Any

from bench import Row, end, listening_url, pin, python, run_load, subprocess_env
from bench import cpu_seconds as _cpu_seconds

QUICK = {"sessions": 4, "seconds": 6.0, "runs": 1}
TINY = {"sessions": 1, "seconds": 3.0, "runs": 1}

CYCLE_S = 3.0
SERVER_CORE = 0
LOAD_CORE = 1


def _speech() -> bytes:
    from mock_server import audio, resources

    question = audio.load_wav(resources.AUDIO / "question.wav").tobytes()
    cycle = int(CYCLE_S * 48000)
    return question[:cycle].ljust(cycle, b"\0")


# ---- the load generator (its own process) ---------------------------------------------------


async def _websocket_session(url: str, seconds: float, counts: dict[str, int]) -> None:
    from websockets.asyncio.client import connect

    cycle = _speech()
    chunks = [cycle[i : i + 960] for i in range(0, len(cycle), 960)]
    headers = {"Authorization": "Bearer sk-bench"}
    async with connect(url, additional_headers=headers, max_size=None) as ws:

        async def read() -> None:
            async for frame in ws:
                text = str(frame)
                if '"input_audio_buffer.speech_stopped"' in text:
                    counts["turns"] += 1
                elif '"response.output_audio.delta"' in text:
                    counts["audio_out"] += 1

        reader = asyncio.ensure_future(read())
        loop = asyncio.get_running_loop()
        start = loop.time()
        n = 0
        while loop.time() - start < seconds:
            chunk = chunks[n % len(chunks)]
            event = {"type": "input_audio_buffer.append", "audio": base64.b64encode(chunk).decode()}
            await ws.send(json.dumps(event))
            n += 1
            await asyncio.sleep(max(0.0, start + n * 0.02 - loop.time()))
        reader.cancel()


async def _webrtc_session(url: str, seconds: float, counts: dict[str, int]) -> None:
    from harness.client.webrtc import WebRtcCall, calls_url

    cycle = _speech()
    async with WebRtcCall(calls_url(url), "sk-bench") as call:
        loop = asyncio.get_running_loop()
        start = loop.time()
        said = 0.0
        while loop.time() - start < seconds:
            if said <= loop.time() - start:
                call.say(cycle)
                said += CYCLE_S
            try:
                event = await call.recv(0.1)
            except TimeoutError:
                continue
            if event.get("type") == "input_audio_buffer.speech_stopped":
                counts["turns"] += 1
        counts["audio_out"] += call.heard_loud_frames


async def _load(url: str, transport: str, sessions: int, seconds: float) -> dict[str, Any]:
    counts = {"turns": 0, "audio_out": 0}
    one = _websocket_session if transport == "websocket" else _webrtc_session
    await asyncio.wait_for(
        asyncio.gather(*(one(url, seconds, counts) for _ in range(sessions))), seconds + 60
    )
    return counts


# ---- the server (its own process) -----------------------------------------------------------


async def _serve() -> None:
    from mock_server.server import MockServer

    async with MockServer(port=0) as server:
        print(f"listening on {server.ws_url}", flush=True)
        await asyncio.Event().wait()


# ---- the parent -----------------------------------------------------------------------------


def probe(transport: str, sessions: int, seconds: float) -> tuple[float | None, dict[str, int]]:
    """The server's CPU seconds per session-second for ``transport``, and the work counted."""
    env = subprocess_env()
    server = subprocess.Popen(
        [python(), "-m", "bench.webrtc", "serve"],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
        env=env,
    )
    try:
        url = listening_url(server)
        # One short session first, so that lazy imports (aiortc, the SDK's models) do not count.
        warm = [python(), "-m", "bench.webrtc", "load", url, transport, "1", "0.5"]
        subprocess.run(warm, capture_output=True, env=env, timeout=120, check=True)
        before = _cpu_seconds(server.pid)
        command = [python(), "-m", "bench.webrtc", "load", url, transport]
        out = run_load([*command, str(sessions), str(seconds)], env, seconds + 120)
        after = _cpu_seconds(server.pid)
    finally:
        end(server)
    counts = json.loads(out)
    cpu = None if before is None or after is None else (after - before) / (sessions * seconds)
    return cpu, counts


def run(sessions: int = 8, seconds: float = 12.0, runs: int = 2) -> list[Row]:
    figures: dict[str, list[float]] = {"websocket": [], "webrtc": []}
    turns = {"websocket": 0, "webrtc": 0}
    for _ in range(runs):  # interleaved, so that the machine's load hits both alike
        for transport in ("websocket", "webrtc"):
            cpu, counts = probe(transport, sessions, seconds)
            turns[transport] += counts["turns"]
            if cpu is not None:
                figures[transport].append(cpu)
    if not figures["webrtc"] or not figures["websocket"]:
        return [("WebRTC sessions on one core", "n/a (no /proc)", "n/a", "n/a")]
    rtc, ws = min(figures["webrtc"]), min(figures["websocket"])
    return [
        (
            f"WebRTC sessions on one core ({sessions} x {seconds:.0f} s, audio in and out)",
            f"{rtc * 100:.1f}% of a core per session, ~{1 / max(rtc, 1e-9):.0f} sessions "
            f"({turns['webrtc']} turns)",
            f"WebSocket: {ws * 100:.1f}% per session, ~{1 / max(ws, 1e-9):.0f} sessions "
            f"({turns['websocket']} turns)",
            f"{ws / max(rtc, 1e-9):.2f}x the WebSocket's sessions per core",
        )
    ]


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.webrtc")
    commands = parser.add_subparsers(dest="command", required=True)
    commands.add_parser("serve", help="the mock on one core (a child of the benchmark)")
    load = commands.add_parser("load", help="the load generator (a child of the benchmark)")
    load.add_argument("url")
    load.add_argument("transport", choices=["websocket", "webrtc"])
    load.add_argument("sessions", type=int)
    load.add_argument("seconds", type=float)
    args = parser.parse_args(argv)
    if args.command == "serve":
        pin(SERVER_CORE)
        asyncio.run(_serve())
    else:
        pin(LOAD_CORE)
        started = time.monotonic()
        counts = asyncio.run(_load(args.url, args.transport, args.sessions, args.seconds))
        counts["wall_ms"] = int((time.monotonic() - started) * 1000)
        print(json.dumps(counts))


if __name__ == "__main__":
    if len(sys.argv) > 1:
        main()
    else:
        for row in run(**QUICK):
            print(" | ".join(row))
