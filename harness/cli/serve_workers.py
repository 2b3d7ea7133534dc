"""``realtime-mock serve --workers N``: the same mount served by N processes on one port.

The supervisor (:class:`~mock_server.server.workers.Supervisor`) builds what sessions need and
loads the scenario once, then forks the workers; each runs the mount ``serve`` would run
(its ``serve_mount``, handed over by ``serve``, which imports this module), with its own
transcript writer (the files are named by the connection's number, which the workers count
together, so no two workers write the same name). On Ctrl-C or SIGTERM every worker closes
its sessions with 1001 and hands back its part of the scenario's verdict; the supervisor
prints one line per worker and the merged verdict, and exits 1 when the verdict is not ok or
a worker failed.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from mock_server.server import Connection, MockServer, Mount, describe
from mock_server.server.shared_state import Worker
from mock_server.server.workers import Supervisor, WorkerBody, WorkersFailed

if TYPE_CHECKING:
    from harness.transcript_files import TranscriptFiles
    from mock_server.scenario.served import Played, ServedScenario


@dataclass(frozen=True)
class WorkerPart:
    """What one worker hands back: how many connections it served, its part of the scenario
    (None without one), the transcripts it could not write."""

    served: int
    played: Played | None
    transcript_failures: tuple[str, ...]


def serve_workers(
    args: argparse.Namespace,
    play: ServedScenario | None,
    serve_mount: Callable[[argparse.Namespace, ServedScenario | None], Mount],
    transcript_writer: Callable[[Path, ServedScenario | None], TranscriptFiles],
) -> int:
    """``serve`` with ``args.workers`` processes, playing ``play`` (loaded by ``serve``, with
    ``--strict``'s check installed): ``serve_mount`` and ``transcript_writer`` are ``serve``'s
    own (what every worker serves, and writes transcripts with)."""
    if args.tls:
        print(
            "realtime-mock: --tls is not supported with --workers > 1 (each worker would make "
            "its own CA); serve wss:// with --workers 1",
            file=sys.stderr,
        )
        return 2
    from mock_server.server.warm import warm_up

    warm_up()  # once, before the fork: the workers share what it built
    body = _body(args, play, serve_mount, transcript_writer)
    supervisor = Supervisor(args.workers, args.host, args.port, [""], body)
    try:
        supervisor.start()
    except OSError as exc:
        print(
            f"realtime-mock: cannot listen on {args.host}:{args.port}: {exc.strerror}",
            file=sys.stderr,
        )
        if args.port:
            print("  try another --port, or --port 0 for any free port", file=sys.stderr)
        return 2
    except WorkersFailed as exc:
        print(f"realtime-mock: {exc}", file=sys.stderr)
        return 2
    shown = MockServer(host=args.host, port=supervisor.port)  # for its URLs only
    print(describe(shown, any_key=not args.api_key), flush=True)
    print(f"{args.workers} worker processes share the port.", flush=True)
    problem = supervisor.wait()
    print("realtime-mock: stopping (closing connections with 1001)", file=sys.stderr, flush=True)
    reports = supervisor.stop()
    status = 0
    if problem is not None:
        print(f"realtime-mock: {problem}", file=sys.stderr)
        status = 1
    parts: list[WorkerPart] = []
    for report in reports:
        part = report.result
        if isinstance(part, WorkerPart):
            parts.append(part)
            print(
                f"realtime-mock: worker {report.number} served {part.served} connection(s)",
                file=sys.stderr,
            )
        else:
            print(f"realtime-mock: worker {report.number}: {report.error}", file=sys.stderr)
            status = 1
    if play is not None:
        from mock_server.scenario.served import Played

        verdict = play.verdict(Played.merge(p.played for p in parts if p.played is not None))
        print(json.dumps(verdict.to_dict(), indent=2), file=sys.stderr)
        if not verdict.ok:
            status = 1
    return status


def _body(
    args: argparse.Namespace,
    play: ServedScenario | None,
    serve_mount: Callable[[argparse.Namespace, ServedScenario | None], Mount],
    transcript_writer: Callable[[Path, ServedScenario | None], TranscriptFiles],
) -> WorkerBody:
    async def body(worker: Worker, ready: Callable[[], None], stop: asyncio.Event) -> object:
        folder = args.transcript_dir
        transcripts = transcript_writer(Path(folder), play) if folder else None
        served = 0
        then: Callable[[Connection], None] | None = transcripts
        if args.verbose:
            from harness.connection_log import logging_connections

            then = logging_connections(transcripts)

        def ended(conn: Connection) -> None:
            nonlocal served
            served += 1
            if then is not None:
                then(conn)

        mount = serve_mount(args, play)
        mount.keep_input_audio = args.keep_audio or bool(folder)

        server = MockServer(
            host=args.host,
            port=args.port,
            default_mount=mount,
            max_sessions=args.max_sessions,
            keep_ended=0,
            on_connection_end=ended,
            worker=worker,
        )
        await server.start()
        # Ready once warm: a worker still building what sessions need (about a second, the GIL
        # mostly its warm-up's) loses every race for the shared socket to a warm one, so the
        # banner waits until each can take its share.
        await server.ready()
        ready()
        await stop.wait()
        await server.stop()
        if transcripts is not None:  # every pending write finishes before the report
            await asyncio.to_thread(transcripts.close)
        return WorkerPart(
            served,
            play.played() if play is not None else None,
            tuple(transcripts.failures) if transcripts is not None else (),
        )

    return body
