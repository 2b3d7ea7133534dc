"""``realtime-mock record``: relay clients to a live Realtime endpoint and keep each session as
a scenario, or replay what was kept, as VCR.py's record modes say. What each mode replays and
records is decided by :mod:`mock_server.record.modes`; this module parses the options and serves
the mount it sets up until Ctrl-C.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import signal
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

from harness.cli import options
from mock_server.relay import DEFAULT_UPSTREAM
from mock_server.server import MockServer, describe

if TYPE_CHECKING:  # loaded when recording or replaying, not to build the CLI's parser
    from mock_server.record import RecordMode


async def record_main(
    out: str,
    upstream_url: str,
    mode: RecordMode | str,
    host: str = "127.0.0.1",
    port: int = 8765,
    tls: bool = False,
) -> int:
    from mock_server.record import NothingRecorded, plan, set_up
    from mock_server.scenario.loader import ScenarioError

    path = Path(out)
    try:
        setup = set_up(plan(path, mode), upstream_url)
    except NothingRecorded as nothing:
        print(f"realtime-mock record: {nothing}", file=sys.stderr)
        return 2
    except ScenarioError as error:
        print(f"realtime-mock record: cannot replay {path}:\n{error}", file=sys.stderr)
        return 2
    recorder, upstream, episodes = setup.recorder, setup.upstream, setup.episodes
    server = MockServer(host=host, port=port, tls=tls, default_mount=setup.mount)
    try:
        await server.start()
    except OSError as exc:
        print(f"realtime-mock: cannot listen on {host}:{port}: {exc.strerror}", file=sys.stderr)
        return 2
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    print(describe(server, any_key=True), flush=True)
    if episodes is not None and episodes.plays:
        print(f"\nReplaying {len(episodes.plays)} recorded episode(s) of {path}.", flush=True)
    if upstream is not None:
        key = "OPENAI_API_KEY" if os.environ.get("OPENAI_API_KEY") else "the client's own key"
        print(
            f"\nRelaying to {upstream_url} (upstream key: {key}); each connection is recorded "
            f"as {recorder.next_path() if recorder else path} and so on.",
            flush=True,
        )
    await stop.wait()
    await server.stop()
    if recorder is not None:
        recorder.flush()
        for written in recorder.written:
            print(f"recorded {written}", file=sys.stderr)
        if recorder.written:
            print(f"check them: realtime-mock lint {path.parent}", file=sys.stderr)
    if episodes is not None and episodes.verdicts():
        print(json.dumps(episodes.verdicts(), indent=2), file=sys.stderr)
    return 0


RECORD_EXAMPLES = f"""\
examples:
  # relay to the live API ($OPENAI_API_KEY) and keep the session as a scenario
  OPENAI_API_KEY=sk-... realtime-mock record --out scenarios/recorded/refund.yaml
  # then, in another shell, run the client against the recorder
  OPENAI_BASE_URL=http://127.0.0.1:8765/v1 OPENAI_API_KEY=sk-mock python my_agent.py
  # each connection is written when it ends (+ refund.user-1.wav, ...); replay it:
  realtime-mock serve --scenario scenarios/recorded/refund.yaml

modes (VCR.py's names; a connection is an episode, connection N is NAME-N.yaml):
  once          replay the recording if it exists (never calling the upstream), else record
                (default)
  new_episodes  replay the recorded episodes; connections beyond them are recorded as new files
  all           record every connection, overwriting the files
  none          replay only; an error if nothing is recorded

upstream default: {DEFAULT_UPSTREAM}; see docs/recording.md for what is redacted.
"""


def add_parser(subparsers: Any) -> None:
    record = subparsers.add_parser(
        "record",
        help="relay clients to the live API and keep each session as a scenario",
        description="Serve as a pass-through to a live Realtime endpoint: every connection is "
        "relayed unchanged and, when it ends, written as a scenario with its audio (keys "
        "redacted), which realtime-mock serve --scenario replays.",
        epilog=RECORD_EXAMPLES,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    record.add_argument(
        "--out", required=True, metavar="FILE", help="the scenario to write, e.g. NAME.yaml"
    )
    record.add_argument(
        "--upstream",
        default=DEFAULT_UPSTREAM,
        metavar="URL",
        help=f"the live endpoint (default {DEFAULT_UPSTREAM})",
    )
    record.add_argument(
        "--mode",
        choices=["once", "new_episodes", "all", "none"],
        default="once",
        help="VCR.py record mode (default once; see below)",
    )
    record.add_argument("--host", default="127.0.0.1", help="address to bind (default 127.0.0.1)")
    record.add_argument("--port", type=options.port, default=8765, help="ws port (default 8765)")
    record.add_argument("--tls", action="store_true", help="also serve wss://")


def run(args: argparse.Namespace) -> int:
    return asyncio.run(
        record_main(args.out, args.upstream, args.mode, args.host, args.port, args.tls)
    )
