"""``realtime-mock bench``: hands its arguments to the benchmarks' own command line.

The benchmarks (``bench/``) ship with the source, not the package, and own their options and
``--help`` (:func:`bench.__main__.build_parser`): this command only finds the checkout and
passes every argument on, so that nothing in ``bench`` imports the CLI.
"""

from __future__ import annotations

import argparse
import os
import sys
from typing import Any

import harness


def add_parser(subparsers: Any) -> None:
    # No options of its own (and no -h): every argument, --help included, is bench's.
    subparsers.add_parser(
        "bench",
        help="run the benchmarks (from a source checkout)",
        add_help=False,
    )


def run(args: argparse.Namespace) -> int:
    # bench/ is not installed with the package: it runs from the checkout holding harness/.
    checkout = os.path.dirname(os.path.dirname(os.path.abspath(harness.__file__)))
    if not os.path.exists(os.path.join(checkout, "bench", "__main__.py")):
        print(
            "realtime-mock bench: the benchmarks ship with the source, not the package; run it "
            "from a clone of the repository (pip install -e . there).",
            file=sys.stderr,
        )
        return 2
    if checkout not in sys.path:
        sys.path.insert(0, checkout)
    from bench.__main__ import main

    return main(list(args.passed_on), prog="realtime-mock bench")
