"""``realtime-mock``: the command line.

Each subcommand's ``--help`` shows a real example. ``serve`` runs the mock until Ctrl-C or
SIGTERM; ``demo`` starts one in-process and talks to it, to show what the mock does.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import signal
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from mock_server import __version__
from mock_server.protocol.limits import MAX_SESSION_DURATION_S
from mock_server.relay import DEFAULT_UPSTREAM
from mock_server.server import MockServer, Mount, describe, mount_dialect
from mock_server.units import parse_duration, parse_pace

if TYPE_CHECKING:
    from harness.transcript_files import TranscriptFiles
    from mock_server.scenario.play import ScenarioPlay

SERVE_EXAMPLES = """\
examples:
  realtime-mock serve                          # ws://127.0.0.1:8765/v1/realtime, any key accepted
  realtime-mock serve --port 0 --pace fast     # a free port; responses as fast as possible
  realtime-mock serve --tls                    # also wss:// with a CA printed for SSL_CERT_FILE
  realtime-mock serve --beta retired           # beta clients get beta_api_shape_disabled (2026-05)
  realtime-mock serve --api-key sk-test-1      # only this key; others get HTTP 401
  realtime-mock serve --transcript-dir out/    # each connection's transcript, as JSON
  realtime-mock serve --max-sessions 50 --close-idle-after 30s
  realtime-mock serve --scenario function_call --pace realtime --api-key sk-test-1

with --scenario, an option given here wins over the scenario's own value (--dialect, --beta,
--pace, --seed, --max-duration, --close-idle-after); an option not given keeps the scenario's
value. --api-key adds to the scenario's require_key: a key must pass both. The scenario's
handshake refusals and its dialect rule (a beta scenario refuses GA clients) still apply.
Every expectation of a scenario is bounded: a client that has not sent what the next step
expects within 10 s (real time; a step's `within:` or the scenario's `timeout: 10m` says
otherwise) fails the verdict and is closed with 4000. Raise `timeout:` to type at a client.

then, for the openai Python SDK:
  OPENAI_BASE_URL=http://127.0.0.1:8765/v1 OPENAI_API_KEY=sk-mock python my_agent.py
  (the SDK's beta client always derives wss:// from base_url: give it
   websocket_base_url="ws://127.0.0.1:8765/v1", or serve with --tls)
"""


def _pace(text: str) -> float:
    try:
        return parse_pace(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from exc


def _duration(text: str) -> float:
    try:
        return parse_duration(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from exc


def _port(text: str) -> int:
    try:
        port = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"invalid port {text!r}: use a number, 0 = any free"
        ) from None
    if not 0 <= port <= 65535:
        raise argparse.ArgumentTypeError(f"invalid port {port}: use 0..65535 (0 = any free port)")
    return port


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="realtime-mock",
        description="A local stand-in for the OpenAI Realtime API (WebSocket) for testing clients.",
    )
    parser.add_argument("--version", action="version", version=f"realtime-mock {__version__}")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)

    serve = commands.add_parser(
        "serve",
        help="run the mock server until Ctrl-C",
        description="Run the mock Realtime API server. It prints its URL and the environment "
        "to hand the SDKs, answers GET /healthz with 200, and stops cleanly on Ctrl-C/SIGTERM "
        "(every connection gets close 1001).",
        epilog=SERVE_EXAMPLES,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    serve.add_argument(
        "--scenario",
        default=None,
        metavar="NAME|PATH",
        help="play this scenario (a library name such as function_call, or a YAML file); the "
        "verdict of each connection is printed on stderr as JSON",
    )
    serve.add_argument("--host", default="127.0.0.1", help="address to bind (default 127.0.0.1)")
    serve.add_argument(
        "--port", type=_port, default=8765, help="ws port (default 8765; 0 = any free)"
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
    serve.add_argument("--tls-port", type=_port, default=None, help="wss port (default: any free)")
    serve.add_argument(
        "--pace",
        type=_pace,
        default=None,
        metavar="PACE",
        help="response pacing: realtime (default), fast, or xN such as x10",
    )
    serve.add_argument(
        "--max-duration",
        type=_duration,
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
        type=_duration,
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
        "to DIR/connection-NNNN.json when it ends; on Ctrl-C/SIGTERM the open ones are closed "
        "and written before exit",
    )
    serve.add_argument("--seed", default=None, help="seed for ids (same seed, same ids)")
    serve.add_argument(
        "--any-model",
        action="store_true",
        help="accept any ?model= name (a --scenario always does: it plays whatever the model)",
    )
    serve.add_argument(
        "--strict",
        action="store_true",
        default=os.environ.get("REALTIME_MOCK_STRICT") == "1",
        help="check every server event against the openai SDK's models and report any that "
        "do not conform on stderr (also REALTIME_MOCK_STRICT=1)",
    )

    from mock_server.scenario.tags import CAPABILITY_TAGS

    run = commands.add_parser(
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
        "--tls",
        action="store_true",
        help="serve wss:// and hand the client https:// URLs and the CA (SSL_CERT_FILE, "
        "NODE_EXTRA_CA_CERTS): for SDKs that only connect over wss://, such as openai on npm",
    )
    run.add_argument(
        "--timeout",
        type=_duration,
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

    client = commands.add_parser(
        "client",
        help="talk to a Realtime server with the reference client",
        description="Connect with the reference client (backoff on 429/5xx, clear errors), say "
        "each --say text and/or stream a WAV file, print the answers and write the reply audio.",
        epilog="examples:\n"
        "  realtime-mock client --say 'What is the weather in Paris?'\n"
        "  realtime-mock client --audio fixtures/audio/question.wav --out reply.wav --realtime\n"
        "  realtime-mock client --dialect beta --url http://127.0.0.1:8765/v1 --say hi\n"
        "(the URL defaults to $REALTIME_MOCK_URL, then ws://127.0.0.1:8765/v1/realtime; the key "
        "to $OPENAI_API_KEY)",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    client.add_argument(
        "--url",
        default=None,
        help="the realtime URL (ws://, wss://) or the base URL serve prints (http://.../v1)",
    )
    client.add_argument(
        "--key",
        default=None,
        help="API key (default $OPENAI_API_KEY; a local URL needs none)",
    )
    client.add_argument("--dialect", choices=["ga", "beta"], default="ga")
    client.add_argument("--model", default=None)
    client.add_argument("--say", action="append", default=[], metavar="TEXT")
    client.add_argument("--audio", default=None, metavar="WAV", help="speech to stream")
    client.add_argument("--realtime", action="store_true", help="stream the WAV in real time")
    client.add_argument("--out", default=None, metavar="WAV", help="write the reply audio here")
    client.add_argument("--text-only", action="store_true", help="ask for text answers only")

    lint = commands.add_parser(
        "lint",
        help="check scenario files",
        description="Check scenario files and folders; prints file:line:column: problem, and "
        "exits 1 if there is any.",
        epilog="example:\n  realtime-mock lint scenarios/ my_scenarios/refund.yaml",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    lint.add_argument("paths", nargs="+", metavar="PATH", help="files or folders")
    schema = commands.add_parser(
        "schema",
        help="write the JSON Schema of the scenario format",
        description="Write the JSON Schema of scenario files, for editors with a YAML language "
        "server (add '# yaml-language-server: $schema=realtime-mock.schema.json' to a file).",
        epilog="example:\n  realtime-mock schema --out realtime-mock.schema.json",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    schema.add_argument("--out", default=None, help="file to write (default: stdout)")

    from harness.record_cli import RECORD_EXAMPLES

    record = commands.add_parser(
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
    record.add_argument("--port", type=_port, default=8765, help="ws port (default 8765)")
    record.add_argument("--tls", action="store_true", help="also serve wss://")

    demo = commands.add_parser(
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
        "--dialect", choices=["ga", "beta"], default=None, help="only this dialect (default both)"
    )

    bench = commands.add_parser(
        "bench",
        help="run the benchmarks (from a source checkout)",
        description="Run realtime-mock's benchmarks (bench/ in a source checkout; the same as "
        "`python -m bench`) and print each figure with a baseline measured in the same run and "
        "their ratio: event overhead, streaming, concurrent sessions on one core, the pytest "
        "fixture's cost per test, start-up and scenario lint, VAD speed, the pass-through's added "
        "latency, and a soak (memory before and after). See BENCHMARKS.md.",
        epilog="examples:\n"
        "  realtime-mock bench                    # everything: 2 to 3 minutes on 2 cores\n"
        "  realtime-mock bench --quick            # smaller sizes: about 1.5 minutes\n"
        "  realtime-mock bench --only vad_speed --only test_cost",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    bench.add_argument("--quick", action="store_true", help="smaller sizes, a shorter search")
    bench.add_argument(
        "--only",
        action="append",
        default=[],
        metavar="NAME",
        help="run only this benchmark (repeatable): event_overhead, streaming, concurrency, "
        "test_cost, startup, vad_speed, proxy_latency, soak",
    )
    return parser


def _transcript_writer(folder: Path) -> TranscriptFiles:
    """Write each ended connection's transcript to ``folder`` (keys redacted), off the loop."""
    from harness.transcript_files import TranscriptFiles

    return TranscriptFiles(folder)


def serve_mount(args: argparse.Namespace, play: ScenarioPlay | None) -> Mount:
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


async def _serve(args: argparse.Namespace) -> int:
    if args.strict:
        from mock_server.conformance import install_stderr_check

        install_stderr_check()
    play = None
    if args.scenario is not None:
        from mock_server.scenario.loader import ScenarioError, load_scenario, resolve_scenario
        from mock_server.scenario.play import ScenarioPlay

        try:
            play = ScenarioPlay(load_scenario(resolve_scenario(args.scenario)))
        except ScenarioError as error:
            print(f"realtime-mock: cannot use the scenario:\n{error}", file=sys.stderr)
            return 2
    mount = serve_mount(args, play)
    transcripts = _transcript_writer(Path(args.transcript_dir)) if args.transcript_dir else None
    server = MockServer(
        host=args.host,
        port=args.port,
        tls=args.tls,
        tls_port=args.tls_port,
        default_mount=mount,
        max_sessions=args.max_sessions,
        keep_ended=0,  # or memory grows with every session; --transcript-dir keeps them on disk
        on_connection_end=transcripts,
    )
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
    await stop.wait()
    print("realtime-mock: stopping (closing connections with 1001)", file=sys.stderr, flush=True)
    await server.stop()
    if transcripts is not None:  # every pending write finishes before exit
        await asyncio.to_thread(transcripts.close)
    if play is not None:
        print(json.dumps(play.verdict(), indent=2), file=sys.stderr)
    return 0


def _bench(quick: bool, only: list[str]) -> int:
    # bench/ is not installed with the package: it runs from the checkout holding harness/.
    checkout = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    if not os.path.exists(os.path.join(checkout, "bench", "__main__.py")):
        print(
            "realtime-mock bench: the benchmarks ship with the source, not the package; run it "
            "from a clone of the repository (pip install -e . there).",
            file=sys.stderr,
        )
        return 2
    if checkout not in sys.path:
        sys.path.insert(0, checkout)
    from bench.__main__ import run_benchmarks

    return run_benchmarks(quick, only)


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if args.command == "run":
        line = list(args.__dict__.pop("command_line", []))
        args.command_args = line[1:] if line[:1] == ["--"] else line
    if args.command == "serve":
        return asyncio.run(_serve(args))
    if args.command == "run":
        command = args.command_args
        if not command:
            build_parser().error("run needs a command after --, e.g. run -- python agent.py")
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
            )
        )
    if args.command == "client":
        from harness.client_cli import client_main

        return asyncio.run(
            client_main(
                args.url,
                args.key,
                args.dialect,
                args.model,
                args.say,
                args.audio,
                args.realtime,
                args.out,
                args.text_only,
            )
        )
    if args.command == "lint":
        from mock_server.scenario.lint import lint_main

        return lint_main(args.paths)
    if args.command == "schema":
        from mock_server.scenario.lint import schema_main

        return schema_main(args.out)
    if args.command == "record":
        from harness.record_cli import record_main

        return asyncio.run(
            record_main(args.out, args.upstream, args.mode, args.host, args.port, args.tls)
        )
    if args.command == "demo":
        from harness.demo import run_demo

        return asyncio.run(run_demo(args.out, args.dialect))
    if args.command == "bench":
        return _bench(args.quick, args.only)
    raise AssertionError(args.command)  # argparse rejects unknown commands


if __name__ == "__main__":
    sys.exit(main())
