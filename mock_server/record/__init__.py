"""Recording: a relayed connection's transcript becomes a scenario, with its audio, no secrets.

It reads the :class:`~mock_server.transcript.Transcript` the relay wrote (it keeps no copy of
its own) and writes a scenario in the format the library already uses.

- :mod:`~mock_server.record.filters`: what a recording redacts (:data:`FILTERS`, extensible)
  and loosens, and the server events it leaves to the emulator;
- :mod:`~mock_server.record.modes`: VCR.py's record modes, what each replays and records;
- :mod:`~mock_server.record.from_transcript`: the walk that turns a transcript into steps,
  with :mod:`~mock_server.record.responses` for the ``respond`` steps;
- :mod:`~mock_server.record.writer`: the YAML and its WAV fixtures, and each episode's file;
- :mod:`~mock_server.record.recorder`: numbering the connections, off the event loop.
"""

from mock_server.record.filters import FILTERS, Filter, redact
from mock_server.record.from_transcript import scenario_from_transcript
from mock_server.record.modes import (
    Episodes,
    NothingRecorded,
    RecordMode,
    RecordPlan,
    RecordSetup,
    plan,
    set_up,
)
from mock_server.record.recorder import BackgroundRecorder, Recorder
from mock_server.record.writer import Recording, episode_path, recorded_episodes

__all__ = [
    "FILTERS",
    "BackgroundRecorder",
    "Episodes",
    "Filter",
    "NothingRecorded",
    "RecordMode",
    "RecordPlan",
    "RecordSetup",
    "Recorder",
    "Recording",
    "episode_path",
    "plan",
    "recorded_episodes",
    "redact",
    "scenario_from_transcript",
    "set_up",
]
