"""``realtime-mock lint``: check scenario files (the checks are
:mod:`mock_server.scenario.lint`'s)."""

from __future__ import annotations

import argparse
from typing import Any


def add_parser(subparsers: Any) -> None:
    lint = subparsers.add_parser(
        "lint",
        help="check scenario files",
        description="Check scenario files and folders; prints file:line:column: problem, and "
        "exits 1 if there is any.",
        epilog="example:\n  realtime-mock lint scenarios/ my_scenarios/refund.yaml",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    lint.add_argument("paths", nargs="+", metavar="PATH", help="files or folders")


def run(args: argparse.Namespace) -> int:
    from mock_server.scenario.lint import lint_main

    return lint_main(args.paths)
