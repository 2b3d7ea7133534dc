"""A response's pauses, and the input transcriptions waiting for their place among its events.

:class:`Pacer` turns the response's :class:`~mock_server.timing.Timing` into the pauses its
stream yields: scaled by the session's pace (0: none at all), varied by jitter drawn from a
generator seeded with the session's seed and the response's id, so that a seed gives the same
times. :class:`HeldTranscriptions` is the timing's hook on input transcription: a committed
turn's transcription is made at once (the model hears the turn), but its events wait for the
place the timing gives them in the response the turn starts, or, when no response comes, until
that response's first delta would have been due.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from typing import Any

from mock_server.session.context import Clock
from mock_server.session.outbox import Outbox
from mock_server.timing import Timing


class Pacer:
    """The pauses of one response, in seconds of the session's clock.

    >>> from mock_server.timing import LIVE_LIKE
    >>> Pacer(LIVE_LIKE, 0.0, "s").audio(0.1)
    0.0
    >>> a, b = Pacer(LIVE_LIKE, 1.0, "s:resp_1"), Pacer(LIVE_LIKE, 1.0, "s:resp_1")
    >>> [a.audio(0.1) for _ in range(3)] == [b.audio(0.1) for _ in range(3)]
    True
    """

    def __init__(self, timing: Timing, pace: float, seed: str) -> None:
        self.timing = timing
        self.pace = pace
        jittered = pace > 0 and timing.jitter > 0
        self._rng = random.Random(seed) if jittered else None

    def _scaled(self, seconds: float) -> float:
        if self.pace <= 0 or seconds <= 0:
            return 0.0
        if self._rng is not None:
            seconds *= 1.0 + self.timing.jitter * (2.0 * self._rng.random() - 1.0)
        return seconds * self.pace

    def hold(self, seconds: float) -> float:
        """A scripted wait (``first_audio_after``): scaled by the pace, without jitter."""
        return seconds * self.pace if self.pace > 0 and seconds > 0 else 0.0

    def first_event(self) -> float:
        return self._scaled(self.timing.first_event_s)

    def first_delta(self) -> float:
        return self._scaled(self.timing.first_delta_s)

    def audio(self, seconds: float) -> float:
        """The pause after a chunk holding ``seconds`` of audio."""
        return self._scaled(self.timing.audio_pause(seconds))

    def text(self, text: str) -> float:
        """The pause after a text or arguments delta."""
        return self._scaled(self.timing.text_pause(text))


class HeldOutbox(Outbox):
    """Stands in for the session's outbox while an input transcription is made: the events it
    is given wait in :attr:`held` (unstamped) until they are released, and so does the
    transcript the item shows (:meth:`keep`)."""

    def __init__(self, outbox: Outbox, unsent: dict[str, str | None]) -> None:
        super().__init__(outbox.encoder, outbox.ids, outbox.transcript, outbox.clock, ())
        self.held: list[tuple[dict[str, Any], dict[str, Any] | None]] = []
        self.item: dict[str, Any] | None = None
        self.heard: str | None = None
        self._unsent = unsent

    def keep(self, item: dict[str, Any], before: str | None) -> None:
        """The transcription of ``item`` is made: its transcript goes back to ``before`` until
        the events are sent (a retrieve meanwhile shows what the events said so far)."""
        content = item["content"][0]
        self.item, self.heard = item, content.get("transcript")
        content["transcript"] = before
        self._unsent[item["id"]] = self.heard

    def release(self) -> None:
        if self.item is not None:
            self.item["content"][0]["transcript"] = self.heard
            self._unsent.pop(self.item["id"], None)

    def emit(
        self, event: dict[str, Any], *, recorded: dict[str, Any] | None = None
    ) -> dict[str, Any]:
        self.held.append((event, recorded))
        return event


class HeldTranscriptions:
    """Input transcriptions made but not yet sent: each waits for a response to claim it (and
    reach its place), or for its deadline."""

    def __init__(self, outbox: Outbox, clock: Clock, holds: Callable[[str], bool]) -> None:
        """``holds`` says whether the conversation still holds an item: the transcription of
        one deleted meanwhile is never sent (no event names an item that is gone)."""
        self.outbox = outbox
        self.clock = clock
        self.holds = holds
        self._waiting: list[tuple[float, HeldOutbox]] = []
        # item id -> transcript, of the transcriptions made but not sent (waiting or claimed).
        self._unsent: dict[str, str | None] = {}

    def hold(self, timing: Timing, pace: float) -> HeldOutbox:
        """A stand-in outbox for one transcription; unclaimed, it is sent when the first delta
        of a response started now would be due."""
        deadline = self.clock.now + (timing.first_event_s + timing.first_delta_s) * pace
        held = HeldOutbox(self.outbox, self._unsent)
        self._waiting.append((deadline, held))
        return held

    def claim(self) -> list[HeldOutbox]:
        """The transcriptions waiting, for the response that starts now to send."""
        claimed = [held for _, held in self._waiting]
        self._waiting.clear()
        return claimed

    def send(self, claimed: list[HeldOutbox]) -> None:
        """Send the events of ``claimed``, in order, emptying it."""
        for held in claimed:
            held.release()
            for event, recorded in held.held:
                item_id = event.get("item_id")
                if not isinstance(item_id, str) or self.holds(item_id):
                    self.outbox.emit(event, recorded=recorded)
        claimed.clear()

    def as_heard(self, items: list[dict[str, Any]]) -> list[dict[str, Any]]:
        """``items`` as the model heard them: a user turn whose transcription is not sent yet
        carries its transcript all the same (a copy; the conversation's item waits)."""
        if not self._unsent:
            return items
        out = []
        for item in items:
            heard = self._unsent.get(item.get("id", ""), None)
            if heard is not None:
                content = [{**item["content"][0], "transcript": heard}, *item["content"][1:]]
                item = {**item, "content": content}
            out.append(item)
        return out

    def due(self, now: float) -> None:
        """Send the transcriptions whose deadline has come (and those held before them)."""
        if not self._waiting:
            return  # the usual case, at every turn of a session's clock
        last = max((i for i, (at, _) in enumerate(self._waiting) if at <= now), default=-1)
        if last >= 0:
            due = [held for _, held in self._waiting[: last + 1]]
            del self._waiting[: last + 1]
            self.send(due)

    def next_deadline(self) -> float | None:
        if not self._waiting:
            return None
        return min(at for at, _ in self._waiting)
