"""What the parts of a session share: its clock and its log of the client's mistakes.

The parts (:mod:`.input_audio`, :mod:`.conversation`, :mod:`.responses`) are given these two
objects, the :class:`~mock_server.session.outbox.Outbox` and the other parts they act on, never
the session itself: no part holds its session (a session is freed as soon as its connection
lets it go, with no cycle for the collector to find).
"""

from __future__ import annotations

from mock_server.transcript import Finding, Transcript


class Clock:
    """The session's time: ``now`` as its driver last gave it, when the session started, and
    when it last saw activity (a client frame, a response's end: the idle close counts from
    it)."""

    def __init__(self) -> None:
        self.started_at = 0.0
        self.now = 0.0
        self.last_activity = 0.0

    def elapsed(self) -> float:
        """Seconds since the session started (the transcript's time)."""
        return self.now - self.started_at


class Mistakes:
    """The client's protocol mistakes and audio warnings, written to the transcript as found."""

    def __init__(self, transcript: Transcript, clock: Clock) -> None:
        self.transcript = transcript
        self.clock = clock
        # The kinds reported so far: a warning given once a session costs no scan per append.
        self.kinds: set[str] = set()

    def find(
        self,
        kind: str,
        message: str,
        event_id: str | None = None,
        severity: str = "error",
        code: str | None = None,
    ) -> None:
        t = self.clock.elapsed()
        finding = Finding(kind, message, t, event_id, severity, code)
        self.transcript.add(t, "note", kind, note=message, finding=finding)
        self.kinds.add(kind)

    def warn(self, warnings: list[tuple[str, str]], event_id: str | None) -> None:
        for kind, message in warnings:
            self.find(kind, message, event_id, severity="warning")

    def note_once(self, kind: str, note: str) -> None:
        """A note (not a finding) the transcript gets the first time only."""
        if kind not in self.kinds:
            self.kinds.add(kind)
            self.transcript.add(self.clock.elapsed(), "note", kind, note=note)
