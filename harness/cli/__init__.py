"""``realtime-mock``: the command line, one module per command.

Each command module has ``add_parser(subparsers)`` (its options and a ``--help`` with a real
example) and ``run(args) -> int`` (its exit status); this package builds the parser from them
and dispatches. ``serve`` runs the mock until Ctrl-C or SIGTERM; ``demo`` starts one in-process
and talks to it, to show what the mock does; ``bench`` hands its arguments to the benchmarks'
own parser.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Iterator, Mapping, Sequence
from types import ModuleType

from mock_server import __version__


class _Commands(Mapping[str, ModuleType]):
    """The command modules by name, each imported when it is asked for: ``realtime-mock serve``
    loads only ``serve``'s module (not the recorder's relay, the client's, ...), so that it
    listens sooner (issue 15)."""

    def __init__(self, names: Sequence[str]) -> None:
        self._names = tuple(names)

    def __getitem__(self, name: str) -> ModuleType:
        if name not in self._names:
            raise KeyError(name)
        return importlib.import_module(f"harness.cli.{name}")

    def __iter__(self) -> Iterator[str]:
        return iter(self._names)

    def __len__(self) -> int:
        return len(self._names)


# In the order ``realtime-mock --help`` lists them.
COMMANDS = _Commands(["serve", "run", "client", "lint", "schema", "record", "demo", "bench"])
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


def build_parser(only: str | None = None) -> argparse.ArgumentParser:
    """The command line's parser: every command's, or ``only`` that one's (the others' modules
    are then not imported)."""
    parser = CommandLineParser(
        prog="realtime-mock",
        description="A local stand-in for the OpenAI Realtime API (WebSocket) for testing clients.",
    )
    parser.add_argument("--version", action="version", version=f"realtime-mock {__version__}")
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for name in COMMANDS if only is None else [only]:
        COMMANDS[name].add_parser(subparsers)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    given = list(sys.argv[1:] if argv is None else argv)
    named = given[0] if given and given[0] in COMMANDS else None
    args = build_parser(only=named).parse_args(given)
    status: int = COMMANDS[args.command].run(args)
    return status


__all__ = ["COMMANDS", "build_parser", "main"]
