"""``realtime-mock run -- CMD``: any client command through scenarios (see
:mod:`harness.runner`, which does the work); this module parses its options."""

from __future__ import annotations

import argparse
import asyncio
from typing import Any

from harness.cli import options


def add_parser(subparsers: Any) -> None:
    from mock_server.scenario.tags import CAPABILITY_TAGS

    run = subparsers.add_parser(
        "run",
        help="drive any client command through scenarios; verdicts and JUnit XML",
        description="For each scenario, serve it and run CMD with these variables set:\n"
        "  OPENAI_BASE_URL            http://127.0.0.1:PORT/run/N/v1 (what the openai SDKs read)\n"
        "  OPENAI_WEBSOCKET_BASE_URL  the ws:// form of it\n"
        "  OPENAI_API_KEY             a fake key the mock accepts (sk-realtime-mock)\n"
        "  REALTIME_MOCK_URL          the full ws://.../v1/realtime URL\n"
        "  REALTIME_MOCK_SCENARIO     the scenario's name\n"
        "  (with --tls: https:// and wss:// URLs; SSL_CERT_FILE, NODE_EXTRA_CA_CERTS: the CA)\n"
        "\n"
        "CMD runs in a process group of its own with stdin from /dev/null; its output is kept\n"
        "(head and tail, bounded). A scenario passes when its verdict is ok and CMD ends within\n"
        "--timeout as the scenario says (client: {exit: zero} by default; the refusal scenarios\n"
        "say nonzero). A failure is shown in full: every finding, the tail of CMD's stdout and\n"
        "stderr, and with -v the conversation's timeline.",
        epilog="examples:\n"
        "  realtime-mock run --scenario text_turn --scenario function_call -- node agent.js\n"
        "  realtime-mock run --tag text --junit-xml realtime.xml --timeout 60 -- python agent.py\n"
        "  realtime-mock run --exclude-tag audio -v -- uv run my-agent\n"
        "(without --scenario: every library scenario; --tag/--exclude-tag then select among "
        "them)\n\n"
        "library tags:\n"
        + "".join(f"  {tag:<13} {what}\n" for tag, what in CAPABILITY_TAGS.items())
        + "\nexit status:\n"
        "  0    every selected scenario passed\n"
        "  1    a scenario failed (finding, client exit status, timeout)\n"
        "  2    usage or selection error: no command, an unknown scenario or tag, nothing "
        "selected\n"
        "  130  interrupted by SIGINT (143: SIGTERM); the client's process group is ended and\n"
        "       the JUnit file still written",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    run.add_argument(
        "--scenario",
        action="append",
        default=[],
        metavar="NAME|PATH",
        help="a scenario to run (repeatable; default: the whole library)",
    )
    run.add_argument(
        "--tag",
        action="append",
        default=[],
        metavar="TAG",
        help="only scenarios with this tag (repeatable: any of them), e.g. --tag text",
    )
    run.add_argument(
        "--exclude-tag",
        action="append",
        default=[],
        metavar="TAG",
        help="leave out scenarios with this tag (repeatable), e.g. --exclude-tag audio",
    )
    run.add_argument("--junit-xml", default=None, metavar="FILE", help="write JUnit XML here")
    run.add_argument(
        "--html",
        default=None,
        metavar="FILE",
        help="write an HTML report here: each scenario's connections with their timeline, "
        "findings, audio (playable) and VAD markers on the waveform; one self-contained file",
    )
    run.add_argument(
        "--tls",
        action="store_true",
        help="serve wss:// and hand the client https:// URLs and the CA (SSL_CERT_FILE, "
        "NODE_EXTRA_CA_CERTS): for SDKs that only connect over wss://, such as openai on npm",
    )
    run.add_argument(
        "--timeout",
        type=options.duration,
        default=60.0,
        metavar="DURATION",
        help="per scenario (default 60s); then CMD's process group gets SIGTERM, and SIGKILL "
        "0.5 s later",
    )
    run.add_argument(
        "-v", "--verbose", action="store_true", help="show the timeline of a failed scenario"
    )
    run.add_argument(
        "command_line", nargs=argparse.REMAINDER, metavar="-- CMD", help="the client to run"
    )
    run.set_defaults(usage_error=run.error)  # a missing CMD is a usage error of `run`


def run(args: argparse.Namespace) -> int:
    line = list(args.command_line)
    command = line[1:] if line[:1] == ["--"] else line
    if not command:
        args.usage_error("run needs a command after --, e.g. run -- python agent.py")
    from harness.runner import run_main

    return asyncio.run(
        run_main(
            args.scenario,
            command,
            args.junit_xml,
            args.timeout,
            args.tls,
            tags=args.tag,
            exclude_tags=args.exclude_tag,
            verbose=args.verbose,
            html=args.html,
        )
    )
