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

import functools
import json
import re
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import asdict, dataclass, field
from typing import Any, Literal

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


@dataclass
class Transcript:
    """Everything a connection did, in order."""

    handshake: Handshake | None = None
    entries: list[Entry] = field(default_factory=list)
    closed: tuple[int, str] | None = None
    # Characters of bulk payload (base64 audio) it may hold through :meth:`hold` (None: all).
    payload_limit: int | None = None
    payload_held: int = 0
    # Every byte of input audio the client appended, as PCM16 at 24 kHz, when the server was
    # asked to keep it (for reports: :mod:`harness.report`); None when it was not. At most
    # INPUT_AUDIO_LIMIT bytes (the service's longest session).
    input_audio: bytearray | None = None

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
        return [e.finding for e in self.entries if e.finding is not None]

    def to_json(self) -> str:
        record = asdict(self)
        # How it was kept, not what happened; the input audio is written as a WAV of its own.
        del record["payload_limit"], record["payload_held"], record["input_audio"]
        return json.dumps(record, indent=2)
