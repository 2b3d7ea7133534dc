"""A relayed connection's transcript as a scenario: one walk over it, in order, making steps.

- each client event becomes an ``expect`` step; volatile fields are loosened
  (:mod:`mock_server.record.filters`); the client's audio becomes ``expect: {type:
  input_audio_buffer.append, audio: NAME.user-N.wav}``;
- each response whose event sequence is a standard one becomes a ``respond`` step
  (:mod:`mock_server.record.responses`), its audio a ``NAME.model-N.wav`` fixture; any other
  response is kept event by event as raw ``send`` steps, so that nothing is lost;
- errors become ``error`` steps (or, when they refused a client event, that expect answers
  ``instead`` of the emulator and a ``send`` repeats the error with the event's id); input
  transcriptions become the scenario's ``transcriptions`` (by speaker when diarised); a close
  by the service, a ``close`` step; refused handshakes before the connection, ``connections``
  entries (429 with retry-after);
- server events the emulator makes by itself from the client's events are left to it.
"""

from __future__ import annotations

import datetime
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from mock_server import audio
from mock_server.protocol.events import Dialect
from mock_server.record.filters import (
    EMULATED,
    ID_KEYS,
    LOOSE_KEYS,
    Placeholder,
    escape_templates,
    ga_name,
    redact,
    secret_regex,
    without_event_id,
)
from mock_server.record.responses import (
    decode_audio,
    format_of,
    is_standard,
    plan_response,
    recorded_timing,
)
from mock_server.record.writer import Recording
from mock_server.transcript import CLOSED_BY_SERVER, REFUSED, Entry, Transcript

TRANSCRIPTION_DONE = "conversation.item.input_audio_transcription.completed"
TRANSCRIPTION_FAILED = "conversation.item.input_audio_transcription.failed"
TRANSCRIPTION_SEGMENT = "conversation.item.input_audio_transcription.segment"
APPEND = "input_audio_buffer.append"


@dataclass
class _ClientStep:
    step: dict[str, Any]
    event: dict[str, Any]
    answered: bool = False  # a server event came after it


class _Builder:
    """One walk over a transcript, in order, making the steps."""

    def __init__(self, transcript: Transcript, stem: str, secrets: Sequence[str]) -> None:
        self.transcript = transcript
        self.stem = stem
        self.secrets = [s for s in secrets if s]
        handshake = transcript.handshake
        self.dialect = Dialect(handshake.dialect if handshake else "ga")
        self.steps: list[dict[str, Any]] = []
        self.audio: dict[str, bytes] = {}
        self.transcriptions: list[dict[str, Any]] = []
        # A diarised transcription's segments by item, until its completed event.
        self.segments: dict[str, list[dict[str, str]]] = {}
        self.notes: list[str] = []
        self.server_ids: set[str] = set()
        self.by_event_id: dict[str, _ClientStep] = {}
        self.last_client: _ClientStep | None = None
        self.segment: bytearray | None = None
        self.input_format = "pcm16"
        self.captures = 0
        self.server_closed = False
        self.groups, self.member = self._responses(transcript.entries)

    # ---- grouping ------------------------------------------------------------------------

    @staticmethod
    def _responses(entries: Sequence[Entry]) -> tuple[dict[str, list[int]], dict[int, str]]:
        """Which server entries belong to which response (by id, items, and rate limits)."""
        groups: dict[str, list[int]] = {}
        member: dict[int, str] = {}
        items: dict[str, str] = {}
        previous: str | None = None
        for index, entry in enumerate(entries):
            event = entry.event
            if entry.direction != "server" or event is None:
                continue
            type_ = ga_name(entry.type)
            rid: str | None = None
            if type_ in ("response.created", "response.done"):
                rid = (event.get("response") or {}).get("id")
            elif isinstance(event.get("response_id"), str):
                rid = event["response_id"]
            elif type_.startswith("conversation.item."):
                rid = items.get((event.get("item") or {}).get("id", ""))
            elif type_ == "rate_limits.updated" and previous is not None:
                rid = previous  # the canonical sequence sends it right after response.created
            if type_ == "response.output_item.added" and rid:
                items[(event.get("item") or {}).get("id", "")] = rid
            previous = rid if type_ == "response.created" else None
            if rid:
                groups.setdefault(rid, []).append(index)
                member[index] = rid
        return groups, member

    # ---- the walk ------------------------------------------------------------------------

    def build(self) -> list[dict[str, Any]]:
        entries = self.transcript.entries
        for index, entry in enumerate(entries):
            if entry.direction == "note":
                if entry.type == CLOSED_BY_SERVER:
                    self.server_closed = True
            elif entry.direction == "client":
                self._client(entry)
            else:
                self._server(index, entry)
        self._close_segment()
        if self.server_closed and self.transcript.closed is not None:
            code, reason = self.transcript.closed
            if int(code) == 1006:  # lost without a close frame: replayed as the same cut
                self.steps.append({"drop": True})
            else:  # a plain int: websockets' CloseCode enum is no YAML a safe loader reads
                self.steps.append({"close": {"code": int(code), "reason": reason}})
        return self.steps

    def _client(self, entry: Entry) -> None:
        event = entry.event
        if event is None:
            self.notes.append(f"a malformed client frame at {entry.t:.3f}s was not kept")
            return
        if entry.type == APPEND:
            if self.segment is None:
                self.segment = bytearray()
                self.steps.append({"expect": {"type": APPEND, "audio": None}})
            self.segment.extend(decode_audio(event.get("audio")))
            return
        self._close_segment()
        fields = self._loosen(without_event_id(event), top=True)
        fields.pop("type", None)
        clash = set(fields) & {"match", "within", "capture", "audio", "instead"}
        expect: dict[str, Any] = {"type": entry.type}
        if clash:
            expect["match"] = fields
        else:
            expect.update(fields)
        step = {"expect": expect}
        self.steps.append(step)
        self.last_client = _ClientStep(step, event)
        if isinstance(event.get("event_id"), str):
            self.by_event_id[event["event_id"]] = self.last_client

    def _server(self, index: int, entry: Entry) -> None:
        event = entry.event
        if event is None:
            self.steps.append({"garbage": entry.raw or True})
            return
        self._collect_ids(event)
        type_ = ga_name(entry.type)
        answered = self.last_client
        if answered is not None and type_ != "error":
            answered.answered = True
        if index in self.member:
            rid = self.member[index]
            if self.groups[rid][0] == index:
                self._close_segment()
                self.steps += self._response(rid)
            return
        if type_ in ("session.created", "session.updated"):
            session = event.get("session") or {}
            fmt = ((session.get("audio") or {}).get("input") or {}).get("format")
            self.input_format = format_of(fmt or session.get("input_audio_format"))
        if type_ == "input_audio_buffer.committed":
            self._close_segment()
        if type_ == "error":
            self._error(event)
        elif type_ == TRANSCRIPTION_SEGMENT:
            said = {"speaker": str(event.get("speaker", "")), "text": str(event.get("text", ""))}
            self.segments.setdefault(str(event.get("item_id")), []).append(said)
        elif type_ == TRANSCRIPTION_DONE:
            segments = self.segments.pop(str(event.get("item_id")), None)
            if segments:
                self.transcriptions.append({"segments": segments})
            else:
                self.transcriptions.append({"text": event.get("transcript", "")})
        elif type_ == TRANSCRIPTION_FAILED:
            self.transcriptions.append({"error": self._fault(event.get("error") or {})})
        elif type_ not in EMULATED:
            self.steps.append({"send": without_event_id(event)})

    def _collect_ids(self, value: Any, key: str = "") -> None:
        if isinstance(value, dict):
            for k, v in value.items():
                self._collect_ids(v, k)
        elif isinstance(value, list):
            for v in value:
                self._collect_ids(v, key)
        elif isinstance(value, str) and key in ID_KEYS:
            self.server_ids.add(value)

    def _loosen(self, value: Any, key: str = "", top: bool = False) -> Any:
        """A client event's fields as a match a replay of the same client meets."""
        if isinstance(value, dict):
            return {k: self._loosen(v, k) for k, v in value.items()}
        if isinstance(value, list):
            return [self._loosen(v, key) for v in value]
        if key in LOOSE_KEYS and not top:
            return "any"
        if isinstance(value, str):
            if value in self.server_ids:
                return "any"
            return secret_regex(value, self.secrets)
        return value

    def _close_segment(self) -> None:
        if self.segment is None:
            return
        number = sum(1 for name in self.audio if ".user-" in name) + 1
        name = f"{self.stem}.user-{number}.wav"
        self.audio[name] = audio.from_format(bytes(self.segment), self.input_format)
        for step in reversed(self.steps):
            expect = step.get("expect")
            if isinstance(expect, dict) and expect.get("type") == APPEND and not expect["audio"]:
                expect["audio"] = name
                break
        self.segment = None

    # ---- errors --------------------------------------------------------------------------

    @staticmethod
    def _fault(error: dict[str, Any]) -> dict[str, Any]:
        fault = {k: error.get(k) for k in ("type", "code", "message", "param")}
        fault["message"] = fault["message"] or "An error occurred."
        fault["type"] = fault["type"] or "invalid_request_error"
        return fault

    def _error(self, event: dict[str, Any]) -> None:
        error = event.get("error") or {}
        cause_id = error.get("event_id")
        cause = self.by_event_id.get(cause_id) if isinstance(cause_id, str) else None
        if cause is None and cause_id is None:
            last = self.last_client
            if last is not None and not last.answered:
                cause = last  # the error answers the event just before it
        if cause is None:
            fault = self._fault(error)
            if cause_id is not None:
                fault["event_id"] = cause_id
            self.steps.append({"error": fault})
            return
        # The service refused this client event (a refused event changes nothing): the replay
        # answers it with the same error instead of the emulator's own handling.
        cause.answered = True
        expect = cause.step["expect"]
        expect["instead"] = True
        if cause_id is None:
            self.steps.append({"error": self._fault(error)})
            return
        self.captures += 1
        name = f"refused_{self.captures}"
        expect["capture"] = {name: "event_id"}
        sent = without_event_id(event)
        sent["error"] = {**error, "event_id": Placeholder("{{ " + name + " }}")}
        self.steps.append({"send": sent})

    # ---- responses -----------------------------------------------------------------------

    def _response(self, rid: str) -> list[dict[str, Any]]:
        events = [self.transcript.entries[i].event or {} for i in self.groups[rid]]
        model_fixtures = sum(1 for name in self.audio if ".model-" in name)
        planned = plan_response(events, self.dialect, self.stem, model_fixtures)
        if planned is not None:
            respond, plan, overrides, fixtures = planned
            if is_standard(events, plan, overrides, self.dialect):
                self.audio.update(fixtures)
                timing = self._timing(rid)
                if timing:
                    respond["recorded"] = timing
                return [{"respond": respond}]
        last = self.last_client
        if last is not None and last.event.get("type") == "response.create":
            # Raw events replace the response: the emulator must not answer the request too.
            last.step["expect"]["instead"] = True
        self.notes.append(f"response {len(self.steps)}: an unusual sequence, kept as raw events")
        return [{"send": without_event_id(e)} for e in events]

    def _timing(self, rid: str) -> dict[str, Any]:
        """The response's timing as recorded: after what asked for it (the client's last event
        or the turn committed before it), with the turn's input transcription placed."""
        entries = self.transcript.entries
        indexes = self.groups[rid]
        asked = max(
            (
                i
                for i in range(indexes[0])
                if entries[i].direction == "client"
                or ga_name(entries[i].type) == "input_audio_buffer.committed"
            ),
            default=None,
        )
        later = [g[0] for g in self.groups.values() if g[0] > indexes[0]]
        until = min(later, default=len(entries))
        transcribed = next(
            (
                entries[i].t
                for i in range(asked if asked is not None else 0, until)
                if ga_name(entries[i].type) == TRANSCRIPTION_DONE
            ),
            None,
        )
        timed = [(entries[i].t, entries[i].event or {}) for i in indexes]
        asked_at = entries[asked].t if asked is not None else timed[0][0]
        return recorded_timing(timed, asked_at, transcribed, self.dialect)


def scenario_from_transcript(
    transcript: Transcript,
    *,
    name: str,
    secrets: Sequence[str] = (),
    refusals: Sequence[Transcript] = (),
    upstream: str = "",
) -> Recording:
    """The scenario of one relayed connection (and the refused attempts before it).

    ``name`` is the scenario's name and the stem of its fixtures' names; ``secrets`` are the
    key values the connection carried: they, and anything shaped like a key, are redacted.
    """
    builder = _Builder(transcript, name, secrets)
    steps = escape_templates(builder.build())
    handshake = transcript.handshake
    counts = f"{len(transcript.client_events())} client events, {len(builder.groups)} responses"
    where = f" from {upstream}" if upstream else ""
    model = f", model {handshake.model}" if handshake and handshake.model else ""
    today = datetime.date.today().isoformat()
    description = (
        f"Recorded{where} on {today} ({builder.dialect.value}{model}): {counts}. "
        "Replay it with the same client; edit freely (docs/recording.md)."
    )
    if builder.notes:
        description += " Notes: " + "; ".join(builder.notes) + "."
    data: dict[str, Any] = {
        "name": name,
        "description": description,
        "tags": ["recorded"],
        "dialect": builder.dialect.value,
    }
    if builder.transcriptions:
        data["transcriptions"] = builder.transcriptions
    refused = [refused_attempt(t) for t in refusals]
    if refused:
        data["connections"] = [*refused, {"steps": steps}]
    else:
        data["steps"] = steps
    return Recording(redact(data, secrets), builder.audio)


def refused_attempt(transcript: Transcript) -> dict[str, Any]:
    note = next(iter(transcript.events("note", REFUSED)), {})
    attempt = {k: note.get(k) for k in ("status", "message", "code", "type", "retry_after")}
    return {k: v for k, v in attempt.items() if v is not None}
