"""The record modes (VCR.py's): what ``realtime-mock record`` replays, relays and records.

A scenario file is the cassette, a connection an episode: connection N plays (or is recorded
as) ``NAME-N.yaml``, the first ``NAME.yaml``. :func:`plan` decides, from the mode and what is
already recorded, whether connections are replayed, relayed and recorded, and from which
episode number; :func:`set_up` builds the mount that does it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING

from mock_server.record.writer import recorded_episodes

if TYPE_CHECKING:  # loaded when recording or replaying, not to build the CLI's parser
    from websockets.http11 import Request, Response

    from mock_server.record.recorder import BackgroundRecorder
    from mock_server.relay import Upstream
    from mock_server.scenario.served import ServedScenario
    from mock_server.server import Mount
    from mock_server.session import Script


class RecordMode(StrEnum):
    """VCR.py's record modes; a scenario file is the cassette, a connection an episode.

    - ``once``: replay the file when it exists, never touching the upstream; otherwise record.
    - ``new_episodes``: replay the recorded connections (connection N plays ``NAME-N.yaml``,
      the first ``NAME.yaml``); connections beyond them are relayed and recorded as new files.
    - ``all``: relay and record every connection, overwriting the files.
    - ``none``: replay only; no file, no session (an error says so), never the upstream.
    """

    ONCE = "once"
    NEW_EPISODES = "new_episodes"
    ALL = "all"
    NONE = "none"


class NothingRecorded(Exception):
    """``--mode none`` with nothing recorded: there is nothing to replay, and nothing to do."""


@dataclass(frozen=True)
class RecordPlan:
    """What a mode does with ``out``, given the episodes already recorded there."""

    out: Path
    mode: RecordMode
    existing: list[Path]

    @property
    def relays_now(self) -> bool:
        """Whether connections are relayed from the first one on (no replay before them)."""
        return self.mode is RecordMode.ALL or (
            self.mode in (RecordMode.ONCE, RecordMode.NEW_EPISODES) and not self.existing
        )

    @property
    def records(self) -> bool:
        """Whether any connection may be relayed and recorded (new_episodes: past the replay)."""
        return self.relays_now or self.mode is RecordMode.NEW_EPISODES

    @property
    def first_episode(self) -> int:
        """The number of the first episode a recording writes (``all`` overwrites from 1)."""
        return 1 if self.mode is RecordMode.ALL else len(self.existing) + 1

    @property
    def replays(self) -> bool:
        """Whether the recorded episodes are played (every mode but ``all``)."""
        return self.mode is not RecordMode.ALL


def plan(out: Path, mode: RecordMode | str) -> RecordPlan:
    """What ``mode`` does with ``out`` (a mode's name as typed is accepted).

    Raises :class:`NothingRecorded` for ``none`` when nothing is recorded, and ValueError for
    an unknown mode.
    """
    record_mode = RecordMode(mode)
    existing = recorded_episodes(out)
    if record_mode is RecordMode.NONE and not existing:
        raise NothingRecorded(
            f"nothing recorded at {out} (--mode none only replays; "
            "record first with --mode once or all)"
        )
    return RecordPlan(out, record_mode, existing)


@dataclass
class RecordSetup:
    """A plan made real: the mount to serve, and the recorder and episodes behind it."""

    plan: RecordPlan
    mount: Mount
    recorder: BackgroundRecorder | None = None
    upstream: Upstream | None = None
    episodes: Episodes | None = field(default=None)


def set_up(plan: RecordPlan, upstream_url: str) -> RecordSetup:
    """The mount that replays, relays and records as ``plan`` says (a recording relays to
    ``upstream_url``). Raises the loader's ScenarioError when a recorded episode is invalid."""
    from mock_server.record.recorder import BackgroundRecorder, Recorder
    from mock_server.relay import Upstream
    from mock_server.server import Mount

    recorder = None
    upstream = None
    if plan.records:
        recorder = BackgroundRecorder(
            Recorder(plan.out, upstream=upstream_url, first=plan.first_episode)
        )
        upstream = Upstream(url=upstream_url, recorder=recorder)
    if not plan.replays:
        return RecordSetup(plan, Mount(upstream=upstream), recorder, upstream)
    episodes = Episodes(plan.out, plan.mode, upstream)
    return RecordSetup(plan, episodes.mount(), recorder, upstream, episodes)


class Episodes:
    """The recorded episodes of ``out`` played one per connection; beyond them, connections
    are relayed and recorded (``relay``) or refused."""

    def __init__(self, out: Path, mode: RecordMode, upstream: Upstream | None) -> None:
        from mock_server.scenario.loader import load_scenario
        from mock_server.scenario.served import ServedScenario

        self.out = out
        self.plays: list[ServedScenario] = [
            ServedScenario(load_scenario(path)) for path in recorded_episodes(out)
        ]
        self.mounts = [play.mount() for play in self.plays]
        # Each episode's own runners, and the first one's handshakes (recorded refusals), kept
        # before mount() puts this class's in their place.
        self.factories = [m.script_factory for m in self.mounts]
        self.recorded_policy = self.mounts[0].handshake_policy if self.mounts else None
        self.mode = mode
        self.upstream = upstream
        self.played = 0

    def mount(self) -> Mount:
        from mock_server.server import Mount

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
        from mock_server.protocol.http import openai_error

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
        return [play.verdict().to_dict() for play in self.plays if play.runners]
