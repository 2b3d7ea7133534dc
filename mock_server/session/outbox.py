"""The one exit for server events: stamp, encode for the dialect, record, check, queue.

Every server event a session (or a relay's injected event) sends goes through an
:class:`Outbox`: it gets a fresh ``event_id`` from the id factory, its name for the
connection's dialect from the encoder, its JSON text, an entry in the transcript (at the
clock's time), and a pass through each conformance check the outbox was given; then it waits in
the queue until the driver takes it (:meth:`Outbox.take`). Closes, drops and raw frames queue
behind the events before them.

The checks are given, not looked up: a session's come from its
:class:`~mock_server.session.SessionOptions` (by default the process's,
:func:`mock_server.conformance.default_checks`).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from typing import Any

from mock_server.conformance import OutboundCheck
from mock_server.ids import IdFactory
from mock_server.protocol.encoding import Encoder
from mock_server.protocol.errors import RealtimeError
from mock_server.protocol.frames import standard_json, wire_json
from mock_server.session.outputs import Close, Drop, Output, RawFrame, ServerEvent
from mock_server.transcript import Transcript

log = logging.getLogger("realtime_mock")


class Outbox:
    """The queue of a connection's outputs, and the only way events get into it.

    >>> from mock_server.protocol.encoding import beta
    >>> box = Outbox(beta.ENCODER, IdFactory(1), Transcript(), lambda: 0.0)
    >>> box.emit({"type": "response.output_text.done", "text": "hi"})["type"]
    'response.text.done'
    >>> [output.text for output in box.take()]  # doctest: +ELLIPSIS
    ['{"event_id":"event_...","type":"response.text.done","text":"hi"}']
    """

    def __init__(
        self,
        encoder: Encoder,
        ids: IdFactory,
        transcript: Transcript,
        clock: Callable[[], float],
        checks: Sequence[OutboundCheck] = (),
    ) -> None:
        """``clock`` gives the transcript's time of an event (seconds since the session
        started); ``checks`` see every event as it is sent."""
        self.encoder = encoder
        self.ids = ids
        self.transcript = transcript
        self.clock = clock
        self.checks = tuple(checks)
        self._dialect = encoder.dialect
        self._ready: list[Output] = []

    def __len__(self) -> int:
        """How many outputs wait for the driver."""
        return len(self._ready)

    def take(self) -> list[Output]:
        """Everything queued, in order; the queue is then empty."""
        out, self._ready = self._ready, []
        return out

    # ---- events ---------------------------------------------------------------------------

    def emit(
        self, event: dict[str, Any], *, recorded: dict[str, Any] | None = None
    ) -> dict[str, Any]:
        """Send one event built under its GA name; returns it as sent. ``recorded`` replaces
        fields in the transcript's copy only (a payload kept as its size)."""
        return self.emit_as(self.encoder.event_name(event["type"]), event, recorded=recorded)

    def emit_as(
        self, name: str, event: dict[str, Any], *, recorded: dict[str, Any] | None = None
    ) -> dict[str, Any]:
        """:meth:`emit` with the event's name for the dialect, ``name``, looked up once by the
        caller (``event`` starts with its type, which ``name`` replaces)."""
        wire = {"event_id": self.ids.new("event"), **event}
        wire["type"] = name
        return self.queue(wire, wire_json(wire), None if recorded is None else {**wire, **recorded})

    def emit_given(self, event: dict[str, Any]) -> dict[str, Any]:
        """Send an event as a script or rule gives it: renamed for the dialect, with its own
        ``event_id`` if it has one (an id is drawn either way, so that the ids that follow do
        not depend on whether it had one). Its text is :func:`standard_json`'s: exactly what
        Python's encoder writes, and a NaN or an infinity in it refused (a bug found at once,
        not a ``null`` a scenario did not mean)."""
        drawn = self.ids.new("event")
        wire = {"event_id": drawn, **event}
        wire["type"] = self.encoder.event_name(event["type"])
        if wire["event_id"] is None:
            wire["event_id"] = drawn
        return self.queue(wire, standard_json(wire))

    def emit_sibling(self, sent: dict[str, Any], type_: str) -> dict[str, Any]:
        """Send an event with the fields of ``sent`` (the event queued last) but its own id and
        type: its JSON reuses the encoding of those fields (an item, the costly part)."""
        previous = self._ready[-1]
        assert isinstance(previous, ServerEvent) and previous.event is sent
        wire = {**sent, "event_id": self.ids.new("event"), "type": self.encoder.event_name(type_)}
        # Ids and event names are plain ASCII: their JSON is the text between quotes.
        head = f'{{"event_id":"{sent["event_id"]}","type":"{sent["type"]}"'
        text = f'{{"event_id":"{wire["event_id"]}","type":"{wire["type"]}"'
        return self.queue(wire, text + previous.text[len(head) :])

    def queue(
        self, wire: dict[str, Any], text: str, recorded: dict[str, Any] | None = None
    ) -> dict[str, Any]:
        """Queue an event already stamped and named, with its JSON ``text`` (for the few
        events whose text is built by hand: a retrieved item's audio, a session object)."""
        for check in self.checks:
            check(wire, self._dialect)
        self.transcript.add(
            self.clock(), "server", wire["type"], event=wire if recorded is None else recorded
        )
        self._ready.append(ServerEvent(wire, text))
        return wire

    def error(self, error: RealtimeError) -> dict[str, Any]:
        """Send an ``error`` event."""
        return self.emit({"type": "error", "error": error.payload()})

    def internal_error(self, exc: Exception, doing: str, event_id: str | None = None) -> None:
        """Turn an exception of ours into a ``server_error`` event (must be called from an
        ``except`` block: the traceback is logged once, with the exception's)."""
        log.exception("realtime-mock: internal error %s", doing)
        self.error(
            RealtimeError(
                f"realtime-mock internal error while {doing}: {type(exc).__name__}: {exc}. "
                "Please report it with the transcript.",
                None,
                type="server_error",
                event_id=event_id,
            )
        )

    # ---- the connection -------------------------------------------------------------------

    def end(self, how: Close | Drop) -> None:
        """Close or cut the connection after what is already queued."""
        self._ready.append(how)

    def raw(self, data: str | bytes) -> None:
        """Send a frame as is: malformed or truncated traffic on purpose."""
        shown = data if isinstance(data, str) else f"<{len(data)} bytes>"
        self.transcript.add(self.clock(), "server", "<raw>", raw=shown[:2000])
        self._ready.append(RawFrame(data))
