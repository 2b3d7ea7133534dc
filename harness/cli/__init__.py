"""``realtime-mock``: the command line, one module per command.

Each command module has ``add_parser(subparsers)`` (its options and a ``--help`` with a real
example) and ``run(args) -> int`` (its exit status); this package builds the parser from them
and dispatches. ``serve`` runs the mock until Ctrl-C or SIGTERM; ``demo`` starts one in-process
and talks to it, to show what the mock does; ``bench`` hands its arguments to the benchmarks'
own parser.
"""

from __future__ import annotations

import argparse
from collections.abc import Sequence
from types import ModuleType

from harness.cli import bench, client, demo, lint, record, run, schema, serve
from mock_server import __version__

# In the order ``realtime-mock --help`` lists them.
COMMANDS: dict[str, ModuleType] = {
    "serve": serve,
    "run": run,
    "client": client,
    "lint": lint,
    "schema": schema,
    "record": record,
    "demo": demo,
    "bench": bench,
}
# Commands that pass the arguments they do not know on (to a parser of their own).
PASS_THROUGH = frozenset({"bench"})


class CommandLineParser(argparse.ArgumentParser):
    """An argument parser that hands a pass-through command its arguments, unparsed."""

    def parse_args(  # type: ignore[override]
        self, args: Sequence[str] | None = None, namespace: argparse.Namespace | None = None
    ) -> argparse.Namespace:
        parsed, extras = self.parse_known_args(args, namespace)
        if parsed.command in PASS_THROUGH:
            parsed.passed_on = extras
        elif extras:
            self.error(f"unrecognized arguments: {' '.join(extras)}")
        return parsed


def build_parser() -> argparse.ArgumentParser:
    parser = CommandLineParser(
        prog="realtime-mock",
        description="A local stand-in for the OpenAI Realtime API (WebSocket) for testing clients.",
    )
    parser.add_argument("--version", action="version", version=f"realtime-mock {__version__}")
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for command in COMMANDS.values():
        command.add_parser(subparsers)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    status: int = COMMANDS[args.command].run(args)
    return status


__all__ = ["COMMANDS", "build_parser", "main"]
