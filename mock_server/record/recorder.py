"""The recorder: each relayed connection, when it ends, written as a scenario with its audio.

:class:`Recorder` numbers the connections (the first to ``NAME.yaml``, the next ones to
``NAME-2.yaml``, ...) and folds refused attempts into the next connection's file;
:class:`BackgroundRecorder` does that work off the event loop, in one worker thread.
"""

from __future__ import annotations

import dataclasses
import logging
import queue
import threading
from collections.abc import Sequence
from pathlib import Path

from mock_server.record.filters import redact
from mock_server.record.from_transcript import refused_attempt, scenario_from_transcript
from mock_server.record.writer import Recording, episode_path
from mock_server.transcript import REFUSED, Transcript

log = logging.getLogger("realtime_mock")


class Recorder:
    """Writes each relayed connection as a scenario: the first to ``out``, the next ones to
    ``NAME-2.yaml``, ...; refused attempts go into the next connection's file.

    >>> Recorder(Path("scenarios/recorded/chat.yaml")).next_path()
    PosixPath('scenarios/recorded/chat.yaml')
    """

    def __init__(self, out: Path, *, upstream: str = "", first: int = 1) -> None:
        self.out = out
        self.upstream = upstream
        self.number = first
        self.refusals: list[Transcript] = []
        self.refusal_secrets: list[str] = []
        self.written: list[Path] = []

    def next_path(self) -> Path:
        return episode_path(self.out, self.number)

    def add(self, transcript: Transcript, secrets: Sequence[str]) -> None:
        if any(True for _ in transcript.events("note", REFUSED)):
            self.refusals.append(transcript)
            self.refusal_secrets += secrets
            return
        path = self.next_path()
        recording = scenario_from_transcript(
            transcript,
            name=path.stem,
            secrets=[*secrets, *self.refusal_secrets],
            refusals=self.refusals,
            upstream=self.upstream,
        )
        self.written += recording.write(path)
        self.refusals, self.refusal_secrets = [], []
        self.number += 1

    def flush(self) -> None:
        """Refused attempts with no connection after them still make a scenario (of refusals)."""
        if not self.refusals:
            return
        path = self.next_path()
        refused = [refused_attempt(t) for t in self.refusals]
        data = {
            "name": path.stem,
            "description": f"Recorded{' from ' + self.upstream if self.upstream else ''}: every "
            "connection attempt was refused.",
            "tags": ["recorded"],
            "connections": refused,
        }
        self.written += Recording(redact(data, self.refusal_secrets)).write(path)
        self.refusals, self.refusal_secrets = [], []
        self.number += 1


class BackgroundRecorder:
    """A :class:`Recorder` that works off the event loop: a relayed connection that ends hands
    over a snapshot of its transcript (one list copy) and a worker thread turns it into a
    scenario, its WAV fixtures and the replay check, one connection after another in the order
    they ended. Done on the loop, a long session's recording stalled every other connection.
    :meth:`flush` waits for every pending recording, then writes the refusals' scenario.

    >>> import tempfile
    >>> recorder = BackgroundRecorder(Recorder(Path(tempfile.mkdtemp()) / "chat.yaml"))
    >>> recorder.flush()  # nothing was pending
    >>> recorder.written
    []
    """

    def __init__(self, recorder: Recorder) -> None:
        self.recorder = recorder
        self._pending: queue.Queue[tuple[Transcript, tuple[str, ...]] | None] = queue.Queue()
        self._worker = threading.Thread(
            target=self._work, name="realtime-mock recorder", daemon=True
        )
        self._worker.start()

    @property
    def written(self) -> list[Path]:
        return self.recorder.written

    def next_path(self) -> Path:
        return self.recorder.next_path()

    def add(self, transcript: Transcript, secrets: Sequence[str]) -> None:
        # The connection has ended: nothing appends to its entries any more, but the list is
        # copied so that the worker never reads a list the loop could still touch.
        snapshot = dataclasses.replace(transcript, entries=transcript.entries.copy())
        self._pending.put((snapshot, tuple(secrets)))

    def _work(self) -> None:
        while (job := self._pending.get()) is not None:
            try:
                self.recorder.add(*job)
            except Exception:
                log.exception("realtime-mock: could not record a connection")

    def flush(self) -> None:
        """Finish every pending recording (the worker then stops), then the refusals'."""
        if self._worker.is_alive():
            self._pending.put(None)
            self._worker.join()
        self.recorder.flush()
