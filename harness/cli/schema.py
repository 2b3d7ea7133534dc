"""``realtime-mock schema``: the JSON Schema of the scenario format, for editors."""

from __future__ import annotations

import argparse
from typing import Any


def add_parser(subparsers: Any) -> None:
    schema = subparsers.add_parser(
        "schema",
        help="write the JSON Schema of the scenario format",
        description="Write the JSON Schema of scenario files, for editors with a YAML language "
        "server (add '# yaml-language-server: $schema=realtime-mock.schema.json' to a file).",
        epilog="example:\n  realtime-mock schema --out realtime-mock.schema.json",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    schema.add_argument("--out", default=None, help="file to write (default: stdout)")


def run(args: argparse.Namespace) -> int:
    from mock_server.scenario.lint import schema_main

    return schema_main(args.out)
