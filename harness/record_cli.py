"""``realtime-mock record``: relay clients to a live Realtime endpoint and keep each session as
a scenario, or replay what was kept, as VCR.py's record modes say (see
:class:`mock_server.recorder.RecordMode`).

The server is the mock's own (same URLs, health check, TLS); its mount either relays (a
:class:`~mock_server.relay.Upstream` with a :class:`~mock_server.recorder.Recorder`) or plays
the recorded episodes, connection N the N-th file.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from websockets.http11 import Request, Response

from mock_server.protocol.http import openai_error
from mock_server.relay import DEFAULT_UPSTREAM, Upstream
from mock_server.server import MockServer, Mount, describe

if TYPE_CHECKING:  # loaded when recording or replaying, not to build the CLI's parser
    from mock_server.recorder import RecordMode
    from mock_server.session import Script


class Episodes:
    """The recorded episodes of ``out`` played one per connection; beyond them, connections
    are relayed and recorded (``relay``) or refused."""

    def __init__(self, out: Path, mode: RecordMode, upstream: Upstream | None) -> None:
        from mock_server.recorder import recorded_episodes
        from mock_server.scenario.loader import load_scenario
        from mock_server.scenario.play import ScenarioPlay

        self.out = out
        self.plays = [ScenarioPlay(load_scenario(path)) for path in recorded_episodes(out)]
        self.mounts = [play.mount() for play in self.plays]
        # Each episode's own runners, and the first one's handshakes (recorded refusals), kept
        # before mount() puts this class's in their place.
        self.factories = [m.script_factory for m in self.mounts]
        self.recorded_policy = self.mounts[0].handshake_policy if self.mounts else None
        self.mode = mode
        self.upstream = upstream
        self.played = 0

    def mount(self) -> Mount:
        if not self.plays:
            assert self.upstream is not None
            return Mount(upstream=self.upstream)
        first = self.mounts[0]
        first.script_factory = self._script
        first.handshake_policy = self._policy
        if self.upstream is not None:
            self.upstream.relays = lambda: self.played >= len(self.plays)
            first.upstream = self.upstream
        return first

    def _script(self, number: int) -> Script:
        factory = self.factories[min(self.played, len(self.factories) - 1)]
        assert factory is not None
        self.played += 1
        return factory(1)

    def _policy(self, attempt: int, request: Request) -> Response | None:
        if self.played >= len(self.plays) and self.upstream is None:
            return openai_error(
                404,
                f"realtime-mock record --mode {self.mode.value}: every recorded episode of "
                f"{self.out} has been played ({len(self.plays)}); this mode records nothing "
                "new (use --mode new_episodes or all to record).",
                code="no_recorded_episode",
            )
        policy = self.recorded_policy
        return policy(attempt, request) if policy is not None else None

    def verdicts(self) -> list[dict[str, object]]:
        return [play.verdict() for play in self.plays if play.runners]


async def record_main(
    out: str,
    upstream_url: str,
    mode: str,
    host: str = "127.0.0.1",
    port: int = 8765,
    tls: bool = False,
) -> int:
    from mock_server.recorder import BackgroundRecorder, Recorder, RecordMode, recorded_episodes
    from mock_server.scenario.loader import ScenarioError

    path = Path(out)
    record_mode = RecordMode(mode)
    existing = recorded_episodes(path)
    if record_mode is RecordMode.NONE and not existing:
        print(
            f"realtime-mock record: nothing recorded at {path} (--mode none only replays; "
            "record first with --mode once or all)",
            file=sys.stderr,
        )
        return 2
    relaying = record_mode is RecordMode.ALL or (
        record_mode in (RecordMode.ONCE, RecordMode.NEW_EPISODES) and not existing
    )
    recorder = None
    upstream = None
    if relaying or record_mode is RecordMode.NEW_EPISODES:
        first = 1 if record_mode is RecordMode.ALL else len(existing) + 1
        recorder = BackgroundRecorder(Recorder(path, upstream=upstream_url, first=first))
        upstream = Upstream(url=upstream_url, recorder=recorder)
    try:
        if record_mode is RecordMode.ALL:
            episodes = None
            mount = Mount(upstream=upstream)
        else:
            episodes = Episodes(path, record_mode, upstream)
            mount = episodes.mount()
    except ScenarioError as error:
        print(f"realtime-mock record: cannot replay {path}:\n{error}", file=sys.stderr)
        return 2
    server = MockServer(host=host, port=port, tls=tls, default_mount=mount)
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
