"""``realtime-mock serve``: the mock until Ctrl-C or SIGTERM, with or without a scenario.

Without a scenario it is the emulator with the options' values; with one, the scenario's mount
with the options given on the command line in place of its values. Each connection's
transcript can be written to a folder (off the event loop), and the scenario's verdict is
printed on stderr when it stops.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import signal
import sys
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from harness.cli import options
from mock_server.protocol.limits import MAX_SESSION_DURATION_S
from mock_server.server import MockServer, Mount, describe, mount_dialect
from mock_server.server.warm import fix_mmap_threshold

if TYPE_CHECKING:
    from collections.abc import Callable

    from harness.transcript_files import TranscriptFiles
    from mock_server.scenario.served import ServedScenario
    from mock_server.scenario.verdict import ConnectionVerdict
    from mock_server.server import Connection

SERVE_EXAMPLES = """\
examples:
  realtime-mock serve                          # ws://127.0.0.1:8765/v1/realtime, any key accepted
  realtime-mock serve --port 0 --pace fast     # a free port; responses as fast as possible
  realtime-mock serve --tls                    # also wss:// with a CA printed for SSL_CERT_FILE
  realtime-mock serve --beta retired           # beta clients get beta_api_shape_disabled (2026-05)
  realtime-mock serve --api-key sk-test-1      # only this key; others get HTTP 401
  realtime-mock serve --transcript-dir out/    # each connection's transcript and HTML report
  realtime-mock serve --keep-audio             # then open http://127.0.0.1:8765/_mock/ (live page)
  realtime-mock serve --max-sessions 50 --close-idle-after 30s
  realtime-mock serve --workers auto           # one process per CPU, all on the one port
  realtime-mock serve --scenario function_call --pace realtime --api-key sk-test-1
  realtime-mock serve -v                       # a line per connection: path, close, verdict
  curl -d '{"library": "text_turn"}' -H 'Content-Type: application/json' \\
       http://127.0.0.1:8765/_mock/mounts  # the control API: a mount per test, its verdict

with --scenario, an option given here wins over the scenario's own value (--dialect, --beta,
--pace, --seed, --max-duration, --close-idle-after); an option not given keeps the scenario's
value. --api-key adds to the scenario's require_key: a key must pass both. The scenario's
handshake refusals and its dialect rule (a beta scenario refuses GA clients) still apply.
Every expectation of a scenario is bounded: a client that has not sent what the next step
expects within 10 s (real time; a step's `within:` or the scenario's `timeout: 10m` says
otherwise) fails the verdict and is closed with 4000. Raise `timeout:` to type at a client.
On stop, serve --scenario prints the verdict as JSON on stderr and exits 1 when it is not ok.

then, for the openai Python SDK:
  OPENAI_BASE_URL=http://127.0.0.1:8765/v1 OPENAI_API_KEY=sk-mock python my_agent.py
  (the SDK's beta client always derives wss:// from base_url: give it
   websocket_base_url="ws://127.0.0.1:8765/v1", or serve with --tls)
"""


def add_parser(subparsers: Any) -> None:
    serve = subparsers.add_parser(
        "serve",
        help="run the mock server until Ctrl-C",
        description="Run the mock Realtime API server. It prints its URL and the environment "
        "to hand the SDKs, answers GET /healthz with 200, and on the same port: issues "
        "ephemeral keys (POST /v1/realtime/client_secrets; beta: /v1/realtime/sessions), "
        "answers WebRTC offers (POST /v1/realtime/calls), serves the control API "
        "(/_mock/mounts, loopback only) and a live page of the connections and their reports "
        "(/_mock/). It stops cleanly on Ctrl-C/SIGTERM (every connection gets close 1001).",
        epilog=SERVE_EXAMPLES,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    serve.add_argument(
        "--scenario",
        default=None,
        metavar="NAME|PATH",
        help="play this scenario (a library name such as function_call, or a YAML file); on "
        "stop, its verdict is printed on stderr as JSON and serve exits 1 when it is not ok "
        "(0 when it is)",
    )
    serve.add_argument("--host", default="127.0.0.1", help="address to bind (default 127.0.0.1)")
    serve.add_argument(
        "--port", type=options.port, default=8765, help="ws port (default 8765; 0 = any free)"
    )
    serve.add_argument(
        "--dialect",
        choices=["auto", "ga", "beta"],
        default=None,
        help="protocol dialect: auto = beta when the client sends 'OpenAI-Beta: realtime=v1' "
        "(or the openai-beta.realtime-v1 subprotocol), else GA (default auto)",
    )
    serve.add_argument(
        "--beta",
        choices=["served", "retired"],
        default=None,
        help="'retired' answers beta clients as the live service has since 2026-05: an error "
        "beta_api_shape_disabled, then close 4000 (default served)",
    )
    serve.add_argument(
        "--api-key",
        action="append",
        default=[],
        metavar="KEY",
        help="accept only this key (repeatable); by default any non-empty key is accepted; "
        "with --scenario, a key must also pass the scenario's require_key",
    )
    serve.add_argument(
        "--tls", action="store_true", help="also serve wss:// (certificate made on the fly)"
    )
    serve.add_argument(
        "--tls-port", type=options.port, default=None, help="wss port (default: any free)"
    )
    serve.add_argument(
        "--pace",
        type=options.pace,
        default=None,
        metavar="PACE",
        help="scales the live-like response timing: realtime (default), fast, or xN such as x10",
    )
    serve.add_argument(
        "--max-duration",
        type=options.duration,
        default=None,
        metavar="DURATION",
        help="session maximum duration before error session_expired + close 1001 (default 60m)",
    )
    serve.add_argument(
        "--max-sessions",
        type=int,
        default=None,
        metavar="N",
        help="refuse connections beyond N concurrent sessions with HTTP 503 (default: no cap)",
    )
    serve.add_argument(
        "--close-idle-after",
        type=options.duration,
        default=None,
        metavar="DURATION",
        help="close a connection with 1001 after this long without a client event while no "
        "response streams (default: never, as the live service until --max-duration)",
    )
    serve.add_argument(
        "--transcript-dir",
        default=None,
        metavar="DIR",
        help="write each connection's transcript (both directions, handshake, secrets redacted) "
        "to DIR/connection-NNNN.json when it ends, and its HTML report (timeline, findings, "
        "audio, VAD markers) beside it as connection-NNNN.html; on Ctrl-C/SIGTERM the open ones "
        "are closed and written before exit. Implies --keep-audio",
    )
    serve.add_argument(
        "--keep-audio",
        action="store_true",
        help="keep each connection's input audio (its own size in memory, at most 60 min a "
        "session) so that its report, on the live page at /_mock/ or beside its transcript, "
        "shows and plays it",
    )
    serve.add_argument(
        "--workers",
        type=options.workers,
        default=1,
        metavar="N|auto",
        help="serve from N processes on the one port (they share its listening socket: the "
        "least busy takes each new connection), auto = one per CPU (default 1). Scenarios, "
        "connection attempts, --max-sessions, --transcript-dir and the verdict are counted "
        "over all of them; each handshake's response names its worker in "
        "x-realtime-mock-worker. Not with --tls; no control API or /_mock/ page with N > 1",
    )
    serve.add_argument("--seed", default=None, help="seed for ids (same seed, same ids)")
    serve.add_argument(
        "--any-model",
        action="store_true",
        help="accept any ?model= name (a --scenario always does: it plays whatever the model)",
    )
    control = serve.add_argument_group(
        "control API",
        "GET/POST/DELETE under /_mock/ on the same port: a test suite in any language mounts a "
        "scenario per test and reads its verdict (README, docs/control-api.openapi.yaml)",
    )
    control.add_argument(
        "--no-control",
        action="store_true",
        help="do not serve the control API (by default it answers clients on this machine only)",
    )
    control.add_argument(
        "--control-token",
        default=os.environ.get("REALTIME_MOCK_CONTROL_TOKEN"),
        metavar="TOKEN",
        help="every control request must carry 'Authorization: Bearer TOKEN' (also "
        "REALTIME_MOCK_CONTROL_TOKEN, which keeps it out of the process list)",
    )
    control.add_argument(
        "--control-remote",
        action="store_true",
        help="answer control requests from other machines too (needs --control-token)",
    )
    serve.add_argument(
        "-v",
        "--verbose",
        action="store_true",
        help="one line on stderr per ended connection: path, dialect, the key's kind (never "
        "the key), duration, close code, verdict",
    )
    serve.add_argument(
        "--strict",
        action="store_true",
        default=os.environ.get("REALTIME_MOCK_STRICT") == "1",
        help="check every server event against the openai SDK's models and report any that "
        "do not conform on stderr (also REALTIME_MOCK_STRICT=1)",
    )


def transcript_writer(folder: Path, play: ServedScenario | None = None) -> TranscriptFiles:
    """Write each ended connection's transcript to ``folder`` (keys redacted), off the loop,
    with its HTML report beside it (and its verdict when a scenario is played)."""
    from harness.transcript_files import TranscriptFiles

    if play is None:
        return TranscriptFiles(folder, html=True)

    def verdict_of(connection: Connection) -> ConnectionVerdict | None:
        runners = [r for r in list(play.runners) if r.connection == connection.number]
        return runners[-1].verdict() if runners else None

    return TranscriptFiles(folder, html=True, verdict_of=verdict_of)


def serve_mount(args: argparse.Namespace, play: ServedScenario | None) -> Mount:
    """The mount ``serve`` plays: the scenario's, with the options given on the command line
    in place of its values (see SERVE_EXAMPLES); without a scenario, the options' defaults."""
    if play is None:
        mount = Mount(
            dialect=mount_dialect(args.dialect or "auto"),
            beta=args.beta or "served",
            any_model=args.any_model,
            pace=1.0 if args.pace is None else args.pace,
            max_duration_s=MAX_SESSION_DURATION_S
            if args.max_duration is None
            else args.max_duration,
        )
    else:
        mount = play.mount()
        mount.dialect = mount_dialect(args.dialect) if args.dialect else mount.dialect
        mount.beta = args.beta or mount.beta
        mount.any_model = mount.any_model or args.any_model
        if args.pace is not None:
            mount.pace = args.pace
        if args.max_duration is not None:
            mount.max_duration_s = args.max_duration
    if args.seed is not None:
        mount.seed = args.seed
    if args.close_idle_after is not None:
        mount.close_idle_after_s = args.close_idle_after
    mount.api_keys = frozenset(args.api_key)
    return mount


async def _serve(args: argparse.Namespace, play: ServedScenario | None) -> int:
    if args.control_remote and not args.control_token:
        print("realtime-mock: --control-remote needs --control-token", file=sys.stderr)
        return 2
    mount = serve_mount(args, play)
    transcripts = None
    mount.keep_input_audio = args.keep_audio or bool(args.transcript_dir)
    if args.transcript_dir:
        transcripts = transcript_writer(Path(args.transcript_dir), play)
    on_end: Callable[[Connection], None] | None = transcripts
    if args.verbose:
        from harness.connection_log import logging_connections

        on_end = logging_connections(transcripts)
    server = MockServer(
        host=args.host,
        port=args.port,
        tls=args.tls,
        tls_port=args.tls_port,
        default_mount=mount,
        max_sessions=args.max_sessions,
        keep_ended=0,  # or memory grows with every session; --transcript-dir keeps them on disk
    )
    from harness.live_page import LivePage

    live = LivePage(server)  # /_mock/: the connections as they happen, each one's report
    live.install()
    server.on_connection_end = _both(live, on_end)
    if not args.no_control:
        from mock_server.server.control import ControlApi

        ControlApi(server, token=args.control_token, remote=args.control_remote).attach()
    try:
        await server.start()
    except OSError as exc:
        print(
            f"realtime-mock: cannot listen on {args.host}:{args.port}: {exc.strerror}",
            file=sys.stderr,
        )
        if transcripts is not None:
            transcripts.close()
        if args.port:
            print("  try another --port, or --port 0 for any free port", file=sys.stderr)
        return 2
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    # Announce only once a signal would be handled: a supervisor may stop us right away.
    print(describe(server, any_key=not args.api_key), flush=True)
    if not args.no_control:
        control_url = server.url_for(scheme="http", path="/_mock/mounts")
        print(f"Control API: {control_url} (docs/control-api.openapi.yaml)", flush=True)
    fix_mmap_threshold()  # a long session's audio buffers go back to the system when freed
    await stop.wait()
    print("realtime-mock: stopping (closing connections with 1001)", file=sys.stderr, flush=True)
    await server.stop()
    if transcripts is not None:  # every pending write finishes before exit
        await asyncio.to_thread(transcripts.close)
    if play is not None:
        verdict = play.verdict()
        print(json.dumps(verdict.to_dict(), indent=2), file=sys.stderr)
        if not verdict.ok:
            print("realtime-mock: the scenario's verdict is not ok: exit 1", file=sys.stderr)
            return 1
    return 0


def _both(
    first: Callable[[Connection], None], second: Callable[[Connection], None] | None
) -> Callable[[Connection], None]:
    if second is None:
        return first

    def each(connection: Connection) -> None:
        first(connection)
        second(connection)

    return each


def run(args: argparse.Namespace) -> int:
    # Once, whichever way it is served (before the fork: every worker inherits both).
    if args.strict:
        from mock_server.conformance import install_stderr_check

        install_stderr_check()
    play = None
    if args.scenario is not None:
        from mock_server.scenario.loader import ScenarioError, load_scenario, resolve_scenario
        from mock_server.scenario.served import ServedScenario

        try:
            play = ServedScenario(load_scenario(resolve_scenario(args.scenario)))
        except ScenarioError as error:
            print(f"realtime-mock: cannot use the scenario:\n{error}", file=sys.stderr)
            return 2
    if args.workers > 1:  # the supervisor forks its workers before any event loop runs
        from harness.cli.serve_workers import serve_workers

        return serve_workers(args, play, serve_mount, transcript_writer)
    return asyncio.run(_serve(args, play))
