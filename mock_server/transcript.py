"""The transcript: the one record of a connection.

Both directions, in order, with monotonic timestamps relative to the connection's start, plus the
handshake (path, query, headers and subprotocols with secrets redacted). Assertions, failure
timelines, verdicts, reports and the recorder all read it; nothing else keeps its own copy.

Bulk payloads (base64 audio) are what could make a transcript outgrow its session: a session's
transcript holds the model's audio deltas up to :attr:`Transcript.payload_limit` characters and
a size placeholder (:func:`elided`) after that, and audio the session keeps anyway (appended,
retrieved) only as a placeholder. A relay's transcript, which the recorder turns into
fixtures, has no limit.
"""

from __future__ import annotations

import bisect
import functools
import json
import re
from array import array
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any, Literal, overload

from mock_server.redaction import redact_headers, redact_query, redact_subprotocol

Direction = Literal["client", "server", "note"]

# Notes a relay writes and the recorder reads (here, so that the recorder needs no relay).
# A handshake the upstream refused (its status, OpenAI error body and retry-after as the event).
REFUSED = "handshake.refused"
# The service's side closed (the upstream, or a passthrough scenario's rule).
CLOSED_BY_SERVER = "server.closed"


@dataclass
class Handshake:
    """What the client asked for when it connected (secrets already removed)."""

    path: str
    query: dict[str, str]
    headers: list[tuple[str, str]]
    subprotocols: list[str]
    dialect: str
    model: str | None = None
    mount: str = ""

    @classmethod
    def redacted(
        cls,
        *,
        path: str,
        query: Mapping[str, str],
        headers: Iterable[tuple[str, str]],
        subprotocols: Iterable[str],
        dialect: str,
        model: str | None,
        mount: str = "",
    ) -> Handshake:
        return cls(
            path=path,
            query=redact_query(query),
            headers=redact_headers(headers),
            subprotocols=[redact_subprotocol(p) for p in subprotocols],
            dialect=dialect,
            model=model,
            mount=mount,
        )


# A session's transcript holds at most this much base64 audio (17 min of PCM16 model audio).
SESSION_PAYLOAD_LIMIT = 64 * 1024 * 1024
PAYLOAD_ELIDED = "transcript_payload_elided"
# 60 minutes of PCM16 at 24 kHz: the input audio a transcript keeps at most.
INPUT_AUDIO_LIMIT = 60 * 60 * 48000


# Cached: a client streams appends of one size, so every entry of a session can share one
# placeholder string instead of holding its own (~90 bytes an append, ~10% of a 20 ms chunk).
@functools.lru_cache(maxsize=256)
def elided(size: int, what: str) -> str:
    """The placeholder a transcript keeps instead of a payload of ``size`` characters.

    >>> elided(6400, "audio")
    '<elided: 6400 base64 characters of audio>'
    """
    return f"<elided: {size} base64 characters of {what}>"


_ELIDED = re.compile(r"<elided: (\d+) base64 characters of ")


def elided_size(text: str) -> int | None:
    """The size in base64 characters that an :func:`elided` placeholder stands for, else None.

    >>> elided_size(elided(6400, "audio")), elided_size("AAAA")
    (6400, None)
    """
    match = _ELIDED.match(text)
    return int(match.group(1)) if match else None


@dataclass(frozen=True)
class Finding:
    """A mistake the client made, noted in the transcript (the verdict reports these).

    ``kind`` is a stable name tests can match: errors ``malformed_frame``, ``rejected_event``
    (with the error ``code``), ``unknown_call_id``, ``pending_function_call``, the MCP ones
    (``unknown_approval_request``, ``approval_answered_twice``, ``pending_mcp_approval``,
    ``mcp_tool_unavailable``); warnings
    ``audio_in_text_only_session`` and the audio diagnostics (``audio_rate_mismatch``,
    ``odd_pcm16_length``, ``silent_audio``, ``clipped_audio``, ``format_mismatch``).
    """

    kind: str
    message: str
    t: float
    event_id: str | None = None
    severity: str = "error"
    code: str | None = None


@dataclass(slots=True)
class Entry:
    """One thing that happened on the connection."""

    t: float
    direction: Direction
    type: str
    event: dict[str, Any] | None = None
    raw: str | None = None
    note: str | None = None
    finding: Finding | None = None


APPEND = "input_audio_buffer.append"
_APPEND_KEYS = frozenset({"type", "audio", "event_id"})
_KEYS = {key: key for key in _APPEND_KEYS}  # one string of each, for every append's entry


class _Compact:
    """The place of a client append kept as columns (:class:`EntryLog`); one, pickled by name."""

    __slots__ = ()

    def __reduce__(self) -> str:
        return "_COMPACT"


_COMPACT = _Compact()


class _Appends:
    """A transcript's client appends as columns: what an entry of each would hold, packed.

    An append's entry (an :class:`Entry`, its time, its event's dict) took 110 bytes, and 380
    with an ``event_id`` of its own: against a 20 ms chunk of PCM16 (960 bytes) the transcript
    outgrew the audio's own bound (issue 15). Here one costs about 30 bytes, and its id's.
    """

    __slots__ = ("id_ends", "ids", "key_orders", "places", "shapes", "sizes", "times")

    def __init__(self) -> None:
        self.places = array("I")  # each append's index among the transcript's entries
        self.times = array("d")
        self.sizes = array("I")  # the base64 audio's length (its placeholder says it)
        self.shapes = array("B")  # which key order its event had (an index of key_orders)
        self.ids = bytearray()  # the event ids, UTF-8, one after another ("" when none)
        self.id_ends = array("I")
        self.key_orders: list[tuple[str, ...]] = []  # at most 8: 2 orders of 2 keys, 6 of 3

    def add(self, place: int, t: float, event: dict[str, Any]) -> bool:
        """Keep a client append (validated or not) if it is one of the usual shape: its type,
        its audio as a string, perhaps a string ``event_id``; False: keep it as an entry."""
        audio = event.get("audio")
        event_id = event.get("event_id", "")
        if type(audio) is not str or type(event_id) is not str:
            return False
        if not _APPEND_KEYS.issuperset(event):
            return False
        if event_id:
            try:
                self.ids += event_id.encode()
            except UnicodeEncodeError:  # a lone surrogate: kept as an entry, as it came
                return False
        keys = tuple(event)
        try:
            code = self.key_orders.index(keys)
        except ValueError:  # a new key order, kept with one string of each key
            code = len(self.key_orders)
            self.key_orders.append(tuple(_KEYS[key] for key in keys))
        self.places.append(place)
        self.times.append(t)
        self.sizes.append(len(audio))
        self.shapes.append(code)
        self.id_ends.append(len(self.ids))
        return True

    def copy(self) -> _Appends:
        copied = _Appends()
        for name in ("places", "times", "sizes", "shapes", "id_ends"):
            getattr(copied, name).extend(getattr(self, name))
        copied.ids += self.ids
        copied.key_orders.extend(self.key_orders)
        return copied

    def entry(self, k: int) -> Entry:
        """The ``k``-th append's entry, as it would have been kept."""
        start = self.id_ends[k - 1] if k else 0
        values = {
            "type": APPEND,
            "audio": elided(self.sizes[k], "audio"),
            "event_id": self.ids[start : self.id_ends[k]].decode(),
        }
        event = {key: values[key] for key in self.key_orders[self.shapes[k]]}
        return Entry(self.times[k], "client", APPEND, event)


class EntryLog(Sequence[Entry]):
    """A transcript's entries, in order: a sequence of :class:`Entry` like a list.

    The client's audio appends, most of a voice session's entries, are kept as columns
    (:class:`_Appends`) and each made an :class:`Entry` again when it is read: the same
    values, a new object each time (an entry read is not a handle to change the record).
    """

    __slots__ = ("_appends", "_slots")

    def __init__(self, entries: Iterable[Entry] = ()) -> None:
        self._slots: list[Entry | _Compact] = list(entries)
        self._appends = _Appends()

    def __len__(self) -> int:
        return len(self._slots)

    def append(self, entry: Entry) -> None:
        self._slots.append(entry)

    def copy(self) -> EntryLog:
        """A copy that later additions to this one do not change (its columns copied: an
        hour's appends are a few megabytes, not a list of entries)."""
        copied = EntryLog(())
        copied._slots = list(self._slots)
        copied._appends = self._appends.copy()
        return copied

    def add_append(self, t: float, event: dict[str, Any]) -> bool:
        """Keep a client ``input_audio_buffer.append`` at ``t`` as columns; False when its
        shape is not the usual one (then the caller adds its entry)."""
        if len(self._slots) >= 2**32 or not self._appends.add(len(self._slots), t, event):
            return False
        self._slots.append(_COMPACT)
        return True

    @overload
    def __getitem__(self, index: int) -> Entry: ...

    @overload
    def __getitem__(self, index: slice) -> list[Entry]: ...

    def __getitem__(self, index: int | slice) -> Entry | list[Entry]:
        if isinstance(index, slice):
            return [self[i] for i in range(*index.indices(len(self._slots)))]
        slot = self._slots[index]
        if isinstance(slot, _Compact):
            place = index % len(self._slots)
            return self._appends.entry(bisect.bisect_left(self._appends.places, place))
        return slot

    def __iter__(self) -> Iterator[Entry]:
        appends = self._appends
        k = 0
        for slot in self._slots:
            if isinstance(slot, _Compact):
                yield appends.entry(k)
                k += 1
            else:
                yield slot

    def columns(self) -> int:
        """How many of the entries are appends kept as columns."""
        return len(self._appends.places)

    def kept(self) -> Iterator[Entry]:
        """The entries kept as such: all but the appends held as columns (which never carry a
        finding, a note or a raw frame)."""
        return (slot for slot in self._slots if not isinstance(slot, _Compact))

    def __eq__(self, other: object) -> bool:
        if isinstance(other, EntryLog | list):
            return list(self) == list(other)
        return NotImplemented

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        return f"EntryLog({list(self)!r})"


@dataclass
class Transcript:
    """Everything a connection did, in order."""

    handshake: Handshake | None = None
    entries: EntryLog = field(default_factory=EntryLog)
    closed: tuple[int, str] | None = None
    # Characters of bulk payload (base64 audio) it may hold through :meth:`hold` (None: all).
    payload_limit: int | None = None
    payload_held: int = 0
    # Every byte of input audio the client appended, as PCM16 at 24 kHz, when the server was
    # asked to keep it (for reports: :mod:`harness.report`); None when it was not. At most
    # INPUT_AUDIO_LIMIT bytes (the service's longest session).
    input_audio: bytearray | None = None

    def __post_init__(self) -> None:
        if not isinstance(self.entries, EntryLog):  # a list of entries (a snapshot, a file)
            self.entries = EntryLog(self.entries)

    def keep_input_audio(self, pcm16: bytes) -> None:
        """Add appended audio to :attr:`input_audio` (if kept), up to its limit.

        >>> transcript = Transcript(input_audio=bytearray())
        >>> transcript.keep_input_audio(b"ab"); bytes(transcript.input_audio)
        b'ab'
        """
        tape = self.input_audio
        if tape is not None and len(tape) < INPUT_AUDIO_LIMIT:
            tape += pcm16[: INPUT_AUDIO_LIMIT - len(tape)]

    def hold(self, t: float, payload: str, what: str = "audio") -> str:
        """What to keep of ``payload``: itself while under :attr:`payload_limit`, else a
        placeholder of its size (the first one noted, so the transcript says it is partial).

        >>> transcript = Transcript(payload_limit=8)
        >>> transcript.hold(0.0, "AAAA"), transcript.hold(0.1, "BBBBBBBB")
        ('AAAA', '<elided: 8 base64 characters of audio>')
        """
        if self.payload_limit is None or self.payload_held + len(payload) <= self.payload_limit:
            self.payload_held += len(payload)
            return payload
        if self.payload_held <= self.payload_limit:
            self.payload_held = self.payload_limit + 1  # noted once
            self.add(
                t,
                "note",
                PAYLOAD_ELIDED,
                note=f"the transcript holds {self.payload_limit} characters of {what} at most: "
                "later payloads are kept as their size only",
            )
        return elided(len(payload), what)

    def add(
        self,
        t: float,
        direction: Direction,
        type_: str,
        *,
        event: dict[str, Any] | None = None,
        raw: str | None = None,
        note: str | None = None,
        finding: Finding | None = None,
    ) -> Entry:
        entry = Entry(t, direction, type_, event, raw, note, finding)
        self.entries.append(entry)
        return entry

    def events(self, direction: Direction, type_: str | None = None) -> Iterator[dict[str, Any]]:
        """The events of one direction (and one type), oldest first."""
        for entry in self.entries:
            wanted = entry.direction == direction and entry.event is not None
            if wanted and (type_ is None or entry.type == type_):
                assert entry.event is not None
                yield entry.event

    def client_events(self, type_: str | None = None) -> list[dict[str, Any]]:
        return list(self.events("client", type_))

    def server_events(self, type_: str | None = None) -> list[dict[str, Any]]:
        return list(self.events("server", type_))

    def findings(self) -> list[Finding]:
        """The client's mistakes and audio warnings the session noted, in order."""
        return [e.finding for e in self.entries.kept() if e.finding is not None]

    def to_json(self) -> str:
        # How it was kept (the payload limit) is left out, not what happened; the input audio
        # is written as a WAV of its own.
        record = {
            "handshake": None if self.handshake is None else asdict(self.handshake),
            "entries": [asdict(entry) for entry in self.entries],
            "closed": self.closed,
        }
        return json.dumps(record, indent=2)
