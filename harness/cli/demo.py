"""``realtime-mock demo``: the reference client through the scenario library (see
:mod:`harness.demo`, which does the work)."""

from __future__ import annotations

import argparse
import asyncio
from typing import Any

from harness.cli import options
from mock_server.protocol.events import Dialect


def add_parser(subparsers: Any) -> None:
    demo = subparsers.add_parser(
        "demo",
        help="run the reference client through the scenario library",
        description="Serve each library scenario in turn and run the reference client through "
        "it (GA and beta): prints the verdict table and where the reply audio was written; "
        "exits 0 when every scenario passed.",
        epilog="example:\n  realtime-mock demo --out /tmp/demo",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    demo.add_argument("--out", default="realtime-mock-demo", help="folder for the reply audio")
    demo.add_argument(
        "--dialect",
        type=options.dialect,
        choices=list(Dialect),
        default=None,
        help="only this dialect (default both)",
    )


def run(args: argparse.Namespace) -> int:
    from harness.demo import run_demo

    return asyncio.run(run_demo(args.out, args.dialect))
