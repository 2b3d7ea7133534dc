"""``python -m bench`` (or ``realtime-mock bench``): run every benchmark and print one table.

Each row is a figure, the baseline measured in the same run on the same machine, and their
ratio with the target. ``--quick`` runs smaller sizes; ``--only`` picks benchmarks by name.
"""

from __future__ import annotations

import argparse
import importlib
import os
import platform
import sys
import time
from collections.abc import Sequence
from pathlib import Path

from bench import Row

# Modules with run(**sizes) -> rows.
BENCHMARKS = [
    "bench.event_overhead",
    "bench.streaming",
    "bench.concurrency",
    "bench.workers",
    "bench.test_cost",
    "bench.startup",
    "bench.plugin_import",
    "bench.vad_speed",
    "bench.proxy_latency",
    "bench.soak",
    "bench.long_conversation",
    "bench.aimock",
    "bench.audio_memory",
    "bench.report_open",
    "bench.http_front",
    "bench.webrtc",
    "bench.audio_soak",
]


def machine() -> str:
    """nproc, the CPU model and the Python version: what a figure was measured on."""
    model = platform.processor() or platform.machine()
    cpuinfo = Path("/proc/cpuinfo")
    if cpuinfo.exists():
        for line in cpuinfo.read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    return f"{os.cpu_count()} CPUs, {model}, Python {platform.python_version()}"


def table(rows: Sequence[Row]) -> str:
    header = ("benchmark", "measured", "baseline (same run)", "ratio")
    widths = [max(len(r[i]) for r in [header, *rows]) for i in range(4)]
    lines = []
    for row in [header, tuple("-" * w for w in widths), *rows]:
        lines.append("  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)).rstrip())
    return "\n".join(lines)


def run_benchmarks(quick: bool = False, only: Sequence[str] = ()) -> int:
    names = [n for n in BENCHMARKS if not only or n.removeprefix("bench.") in only]
    known = [n.removeprefix("bench.") for n in BENCHMARKS]
    unknown = set(only) - set(known)
    if unknown:
        print(
            f"unknown benchmark(s): {', '.join(sorted(unknown))}; known: {', '.join(known)}",
            file=sys.stderr,
        )
        return 2
    print(f"machine: {machine()}", flush=True)
    rows: list[Row] = []
    started = time.perf_counter()
    for name in names:
        try:
            module = importlib.import_module(name)
        except ImportError as exc:
            rows.append((name, "not available", str(exc), "-"))
            continue
        print(f"  running {name} ...", file=sys.stderr, flush=True)
        rows.extend(module.run(**(getattr(module, "QUICK", {}) if quick else {})))
    print(table(rows))
    print(f"({time.perf_counter() - started:.0f} s{', --quick' if quick else ''})")
    return 0


def build_parser(prog: str = "python -m bench") -> argparse.ArgumentParser:
    """The benchmarks' options, in one place: ``realtime-mock bench`` hands its arguments here."""
    parser = argparse.ArgumentParser(
        prog=prog,
        description="Run realtime-mock's benchmarks (bench/ in a source checkout; the same as "
        "`python -m bench`) and print each figure with a baseline measured in the same run and "
        "their ratio: event overhead, streaming, concurrent sessions on one core (and on two "
        "with serve --workers 2), the pytest fixture's cost per test, start-up and scenario "
        "lint, VAD speed, the pass-through's added latency, a soak (memory before and after), "
        "the memory a session holds for streamed audio (and, over a socket, a server's RSS per "
        "audio-minute through an hour of it), a long conversation's per-turn cost (last turns "
        "against the first), the same text-turn load on aimock (the npm package "
        "@copilotkit/aimock, installed into a temp folder when node and npm are present; "
        "skipped with the reason otherwise), the HTTP front against websockets' own server "
        "(aiohttp and uvicorn too, when installed), an hour-long session's HTML report opened "
        "in headless Chromium, and WebRTC sessions against WebSocket ones. See BENCHMARKS.md.",
        epilog="examples:\n"
        "  realtime-mock bench                    # everything: 2 to 3 minutes on 2 cores\n"
        "  realtime-mock bench --quick            # smaller sizes: about 1.5 minutes\n"
        "  realtime-mock bench --only vad_speed --only test_cost",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--quick", action="store_true", help="smaller sizes, a shorter search")
    parser.add_argument(
        "--only",
        action="append",
        default=[],
        metavar="NAME",
        help="run only this benchmark (repeatable): event_overhead, streaming, concurrency, "
        "workers, test_cost, startup, plugin_import, vad_speed, proxy_latency, soak, "
        "audio_memory, audio_soak, long_conversation, aimock, http_front, report_open, webrtc",
    )
    return parser


def main(argv: Sequence[str] | None = None, prog: str = "python -m bench") -> int:
    args = build_parser(prog).parse_args(sys.argv[1:] if argv is None else argv)
    return run_benchmarks(args.quick, args.only)


if __name__ == "__main__":
    sys.exit(main())
