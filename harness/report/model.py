"""The data a report shows: records in, views out, and the bounds that keep a page small.

A :class:`ConnectionView` is plain data (rows, findings, markers, envelopes, audio) that
:mod:`harness.report.page` turns into HTML. Everything here is bounded, whatever the session's
length: the timeline folds runs of appends and deltas into one row and keeps at most
:data:`MAX_ROWS` rows (those a finding names always stay); a waveform is an envelope of at most
:data:`ENVELOPE_POINTS` min/max pairs; embedded audio is full quality up to
:data:`FULL_QUALITY_S` and 8 kHz G.711 after that, up to :data:`MAX_AUDIO_S`.
"""

from __future__ import annotations

import base64
import binascii
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from mock_server.scenario.verdict import ConnectionVerdict
from mock_server.transcript import Entry, Transcript, elided_size

MAX_ROWS = 2000
ENVELOPE_POINTS = 4000
# Audio up to this long is embedded as PCM16 at 24 kHz; longer audio at 8 kHz G.711 (u-law),
# which the page turns back into a playable WAV when asked to play it.
FULL_QUALITY_S = 300
MAX_AUDIO_S = 4 * 3600
DETAIL_CHARS = 4000
# Work done between two calls of a view's ``pause`` (serve renders reports in a thread beside
# the event loop, and hands the interpreter back this often).
PAUSE_EVERY = 256
B64_PIECE = 3 * 256 * 1024
Pause = Callable[[], None]


def no_pause() -> None:
    pass


class Pacer:
    """A ``pause`` for work in a thread beside an event loop: after each burst of about a
    millisecond, a short sleep that hands the loop the interpreter (left to itself, a busy
    thread keeps it for 5 ms at a time)."""

    BURST_S = 0.001
    PAUSE_S = 0.0005

    def __init__(self) -> None:
        self.since = time.perf_counter()

    def __call__(self) -> None:
        if time.perf_counter() - self.since > self.BURST_S:
            time.sleep(self.PAUSE_S)
            self.since = time.perf_counter()


AUDIO_DELTAS = frozenset({"response.output_audio.delta", "response.audio.delta"})
FOLDED = frozenset({"input_audio_buffer.append", *AUDIO_DELTAS})


@dataclass
class ConnectionRecord:
    """One connection to report: its transcript, its verdict, and the audio the client sent
    (PCM16 at 24 kHz, every append in order; None when the session did not keep it)."""

    number: int
    transcript: Transcript
    verdict: ConnectionVerdict | None = None
    input_audio: bytes | None = None
    label: str = ""
    # Keys to remove from every text shown (the connection's own, a relay's).
    secrets: tuple[str, ...] = ()


@dataclass
class Row:
    id: str
    t: float
    direction: str
    type: str
    summary: str
    detail: str
    count: int = 1


@dataclass
class FindingView:
    text: str
    severity: str
    row: str | None
    kind: str = ""


@dataclass
class Marker:
    kind: str  # speech_started, speech_stopped, truncate
    ms: float
    label: str


@dataclass
class Span:
    kind: str  # committed, silence
    start_ms: float
    end_ms: float
    label: str


@dataclass
class Waveform:
    """An audio track as the page draws it: its envelope, markers, spans and playable audio."""

    name: str
    duration_ms: float
    envelope: list[int]  # min, max, min, max, ... scaled to -127..127
    markers: list[Marker] = field(default_factory=list)
    spans: list[Span] = field(default_factory=list)
    audio_mime: str = ""  # "audio/wav" (a WAV file) or "audio/x-mulaw-8k" (raw u-law at 8 kHz)
    audio_b64: str = ""
    note: str = ""


@dataclass
class ConnectionView:
    anchor: str  # the page's id of the connection, unique in the page: "s1c2"
    number: int
    title: str
    ok: bool | None
    rows: list[Row]
    findings: list[FindingView]
    input: Waveform | None
    reply: Waveform | None
    diagnostics: list[tuple[str, str]]
    types: list[str]
    closed: str
    input_note: str = ""  # why there is no input waveform, when the client did stream audio


def decode(value: Any) -> bytes:
    if not isinstance(value, str) or elided_size(value) is not None:
        return b""
    try:
        return base64.b64decode(value, validate=True)
    except (binascii.Error, ValueError):
        return b""


def turn_detection(session: dict[str, Any]) -> Any:
    audio_in = session.get("audio", {}).get("input", {})
    return audio_in.get("turn_detection", session.get("turn_detection"))


def audio_size(entry: Entry) -> int:
    # The size only matters; placeholders stand for their size.
    assert entry.event is not None
    value = entry.event.get("audio", entry.event.get("delta"))
    if isinstance(value, str):
        size = elided_size(value)
        return (size if size is not None else len(value)) * 3 // 4
    return 0
