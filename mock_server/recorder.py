"""The recorder: a relayed connection's transcript becomes a scenario, with its audio, no secrets.

It reads the :class:`~mock_server.transcript.Transcript` that :mod:`mock_server.proxy` wrote
(it keeps no copy of its own) and writes a scenario in the format the library already uses:

- each client event becomes an ``expect`` step; volatile fields are loosened (``event_id``
  dropped, ids the server made and audio bytes become ``any``, playback offsets ``any``); the
  client's audio becomes ``expect: {type: input_audio_buffer.append, audio: NAME.user-N.wav}``;
- each response whose event sequence is a standard one (text, audio with transcript, function
  calls) becomes a ``respond`` step, its audio a ``NAME.model-N.wav`` fixture; any other
  response is kept event by event as raw ``send`` steps, so that nothing is lost;
- errors become ``error`` steps (or, when they refused a client event, that expect answers
  ``instead`` of the emulator and a ``send`` repeats the error with the event's id); input
  transcriptions become the scenario's ``transcriptions``; a close by the service, a ``close``
  step; refused handshakes before the connection, ``connections`` entries (429 with retry-after);
- server events the emulator makes by itself from the client's events (session.created,
  item added/done, VAD, commits, rate limits) are left to the emulator.

Redaction filters are plain functions of ``(value, secrets)``, applied to everything written;
:data:`FILTERS` can be extended. Record modes follow VCR.py (:class:`RecordMode`).
"""

from __future__ import annotations

import dataclasses
import datetime
import logging
import queue
import re
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path
from typing import Any

import yaml

from mock_server import audio
from mock_server.protocol import session_config
from mock_server.protocol.events import BETA_SERVER_NAMES, Dialect
from mock_server.redaction import REDACTED, redact_secret_fields, redact_strings, redact_text
from mock_server.responder import FunctionCallOutput, MessageOutput, ResponsePlan
from mock_server.scenario.templating import escape
from mock_server.session import ServerEvent, Session, SessionOptions
from mock_server.transcript import CLOSED_BY_SERVER, REFUSED, Entry, Transcript

log = logging.getLogger("realtime_mock")

# ---- redaction filters ------------------------------------------------------------------------

Filter = Callable[[Any, Sequence[str]], Any]
FILTERS: list[Filter] = [redact_secret_fields, redact_strings]


def redact(value: Any, secrets: Sequence[str]) -> Any:
    """``value`` through every filter of :data:`FILTERS`.

    >>> redact({"session": {"client_secret": {"value": "ek_abcdefgh1234"}}, "k": "sk-x1234567"}, [])
    {'session': {'client_secret': {'value': '<redacted>'}}, 'k': '<redacted>'}
    """
    for apply in FILTERS:
        value = apply(value, secrets)
    return value


def _secret_regex(text: str, secrets: Sequence[str]) -> str | dict[str, str]:
    """A client's string with a secret in it, as a regex matching it whatever the secret is."""
    redacted = redact_text(text, secrets)
    if redacted == text:
        return text
    return {"regex": "^" + ".+".join(re.escape(p) for p in redacted.split(REDACTED)) + "$"}


# ---- record modes ---------------------------------------------------------------------------


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


def episode_path(out: Path, number: int) -> Path:
    """The file of the ``number``-th recorded connection: ``NAME.yaml``, ``NAME-2.yaml``, ...

    >>> str(episode_path(Path("rec/chat.yaml"), 1)), str(episode_path(Path("rec/chat.yaml"), 3))
    ('rec/chat.yaml', 'rec/chat-3.yaml')
    """
    return out if number == 1 else out.with_name(f"{out.stem}-{number}{out.suffix}")


def recorded_episodes(out: Path) -> list[Path]:
    """The files already recorded for ``out``, in connection order (stops at the first gap)."""
    found: list[Path] = []
    while episode_path(out, len(found) + 1).exists():
        found.append(episode_path(out, len(found) + 1))
    return found


# ---- transcript -> scenario -----------------------------------------------------------------

GA_NAMES = {beta: ga for ga, beta in BETA_SERVER_NAMES.items()}
# What the emulator says by itself in answer to the client's events: a replay makes these anew.
EMULATED = frozenset(
    {
        "session.created",
        "session.updated",
        "transcription_session.updated",
        "conversation.created",
        "conversation.item.added",
        "conversation.item.created",
        "conversation.item.done",
        "conversation.item.retrieved",
        "conversation.item.deleted",
        "conversation.item.truncated",
        "conversation.item.input_audio_transcription.delta",
        "input_audio_buffer.committed",
        "input_audio_buffer.cleared",
        "input_audio_buffer.speech_started",
        "input_audio_buffer.speech_stopped",
        "input_audio_buffer.timeout_triggered",
        "output_audio_buffer.cleared",
        "rate_limits.updated",
    }
)
TRANSCRIPTION_DONE = "conversation.item.input_audio_transcription.completed"
TRANSCRIPTION_FAILED = "conversation.item.input_audio_transcription.failed"
ID_KEYS = frozenset({"id", "item_id", "previous_item_id", "response_id", "conversation_id"})
LOOSE_KEYS = frozenset({"audio", "audio_end_ms", "audio_start_ms"})
APPEND = "input_audio_buffer.append"


def _ga(type_: str) -> str:
    return GA_NAMES.get(type_, type_)


def _format_of(value: Any) -> str:
    """The neutral name of a format given either way (GA object or beta string)."""
    if isinstance(value, dict):
        return session_config.format_name(value)
    if isinstance(value, str):
        return audio.format_name(value)
    return "pcm16"


def _b64(text: Any) -> bytes:
    """Recorded base64 audio; nothing where it is not base64."""
    try:
        return audio.decode_b64(str(text))
    except audio.AudioFormatError:
        return b""


def _without_event_id(event: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in event.items() if k != "event_id"}


class _Placeholder(str):
    """A template placeholder the recorder writes itself (recorded text is escaped instead)."""


def _escape_templates(value: Any) -> Any:
    """Recorded strings as templates that render to themselves (``{{`` is not a placeholder)."""
    if isinstance(value, dict):
        return {k: _escape_templates(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_escape_templates(v) for v in value]
    if isinstance(value, _Placeholder):
        return str(value)
    if isinstance(value, str):
        return escape(value)
    return value


@dataclass
class _ClientStep:
    step: dict[str, Any]
    event: dict[str, Any]
    answered: bool = False  # a server event came after it


class _Flow(dict[str, Any]):
    """A mapping written on one line (usage figures: long, and rarely edited)."""


class _Dumper(yaml.SafeDumper):
    pass


_Dumper.add_representer(
    _Flow, lambda dumper, data: dumper.represent_mapping("tag:yaml.org,2002:map", data, True)
)


def _compact(value: Any, key: str = "") -> Any:
    if isinstance(value, dict):
        inner = {k: _compact(v, k) for k, v in value.items()}
        return _Flow(inner) if key == "usage" else inner
    if isinstance(value, list):
        return [_compact(v, key) for v in value]
    return value


@dataclass
class Recording:
    """A scenario made from one connection: its data and its audio fixtures (PCM16 24 kHz)."""

    data: dict[str, Any]
    audio: dict[str, bytes] = field(default_factory=dict)

    def write(self, path: Path) -> list[Path]:
        """Write the scenario and its fixtures beside it; returns the files written."""
        path.parent.mkdir(parents=True, exist_ok=True)
        written = []
        for name, pcm in self.audio.items():
            audio.write_wav(path.parent / name, pcm)
            written.append(path.parent / name)
        text = yaml.dump(
            _compact(self.data), Dumper=_Dumper, sort_keys=False, allow_unicode=True, width=100
        )
        path.write_text("# Recorded by realtime-mock record; see docs/recording.md.\n" + text)
        return [path, *written]


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
    def _responses(entries: list[Entry]) -> tuple[dict[str, list[int]], dict[int, str]]:
        """Which server entries belong to which response (by id, items, and rate limits)."""
        groups: dict[str, list[int]] = {}
        member: dict[int, str] = {}
        items: dict[str, str] = {}
        previous: str | None = None
        for index, entry in enumerate(entries):
            event = entry.event
            if entry.direction != "server" or event is None:
                continue
            type_ = _ga(entry.type)
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
            self.segment.extend(_b64(event.get("audio")))
            return
        self._close_segment()
        fields = self._loosen(_without_event_id(event), top=True)
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
        type_ = _ga(entry.type)
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
            self.input_format = _format_of(fmt or session.get("input_audio_format"))
        if type_ == "input_audio_buffer.committed":
            self._close_segment()
        if type_ == "error":
            self._error(event)
        elif type_ == TRANSCRIPTION_DONE:
            self.transcriptions.append({"text": event.get("transcript", "")})
        elif type_ == TRANSCRIPTION_FAILED:
            self.transcriptions.append({"error": self._fault(event.get("error") or {})})
        elif type_ not in EMULATED:
            self.steps.append({"send": _without_event_id(event)})

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
            return _secret_regex(value, self.secrets)
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
        sent = _without_event_id(event)
        sent["error"] = {**error, "event_id": _Placeholder("{{ " + name + " }}")}
        self.steps.append({"send": sent})

    # ---- responses -----------------------------------------------------------------------

    def _response(self, rid: str) -> list[dict[str, Any]]:
        events = [self.transcript.entries[i].event or {} for i in self.groups[rid]]
        planned = self._plan(events)
        if planned is not None:
            respond, plan, overrides, fixtures = planned
            if _standard(events, plan, overrides, self.dialect):
                self.audio.update(fixtures)
                return [{"respond": respond}]
        last = self.last_client
        if last is not None and last.event.get("type") == "response.create":
            # Raw events replace the response: the emulator must not answer the request too.
            last.step["expect"]["instead"] = True
        self.notes.append(f"response {len(self.steps)}: an unusual sequence, kept as raw events")
        return [{"send": _without_event_id(e)} for e in events]

    def _plan(
        self, events: list[dict[str, Any]]
    ) -> tuple[dict[str, Any], ResponsePlan, dict[str, Any], dict[str, bytes]] | None:
        """The ``respond`` step of a response, its plan, settings and audio; None if it has
        no end or no content a plan can say."""
        created = next((e for e in events if e.get("type") == "response.created"), None)
        done = next((e for e in events if e.get("type") == "response.done"), None)
        if created is None or done is None:
            return None
        response = done.get("response") or {}
        start = created.get("response") or {}
        if self.dialect is Dialect.GA:
            output_format = _format_of(
                ((start.get("audio") or {}).get("output") or {}).get("format")
            )
            overrides: dict[str, Any] = {
                "output_modalities": start.get("output_modalities") or ["audio"],
                "audio": {"output": {"format": session_config.ga_format(output_format)}},
                "max_output_tokens": start.get("max_output_tokens", "inf"),
            }
        else:
            output_format = _format_of(start.get("output_audio_format"))
            overrides = {
                "modalities": start.get("modalities") or ["text", "audio"],
                "output_audio_format": output_format,
                "max_response_output_tokens": start.get("max_output_tokens", "inf"),
            }
        if start.get("conversation_id") is None:
            overrides["conversation"] = "none"
        if start.get("metadata") is not None:
            overrides["metadata"] = start["metadata"]
        sound: dict[str, bytearray] = {}
        for event in events:
            if _ga(str(event.get("type"))) == "response.output_audio.delta":
                sound.setdefault(str(event.get("item_id")), bytearray()).extend(
                    _b64(event.get("delta"))
                )
        items: list[dict[str, Any]] = []
        outputs: list[MessageOutput | FunctionCallOutput] = []
        fixtures: dict[str, bytes] = {}
        for item in response.get("output") or []:
            if item.get("type") == "function_call":
                call = {
                    "name": item.get("name", ""),
                    "arguments": item.get("arguments", ""),
                    "call_id": item.get("call_id"),
                }
                items.append({"function_call": call})
                outputs.append(FunctionCallOutput(call["name"], call["arguments"], call["call_id"]))
                continue
            content = item.get("content") or []
            if item.get("type") != "message" or len(content) != 1:
                return None
            part = content[0]
            if "transcript" in part or part.get("type") in ("output_audio", "audio"):
                pcm = audio.from_format(bytes(sound.get(item.get("id", ""), b"")), output_format)
                number = sum(1 for name in self.audio if ".model-" in name) + len(fixtures) + 1
                name = f"{self.stem}.model-{number}.wav"
                fixtures[name] = pcm
                items.append({"audio": name, "transcript": part.get("transcript") or ""})
                outputs.append(MessageOutput(part.get("transcript") or "", pcm))
            else:
                items.append({"text": part.get("text") or ""})
                outputs.append(MessageOutput(part.get("text") or ""))
        respond: dict[str, Any]
        if len(items) == 1:
            respond = dict(items[0])
        elif items and all("function_call" in i for i in items):
            respond = {"function_calls": [i["function_call"] for i in items]}
        else:
            respond = {"items": items}
        status = response.get("status", "completed")
        details = response.get("status_details") or {}
        if not items and status == "completed":
            return None
        if status != "completed":
            respond["status"] = status
        if details.get("reason"):
            respond["reason"] = details["reason"]
        if details.get("error"):
            respond["error"] = details["error"]
        if response.get("usage") is not None:
            respond["usage"] = response["usage"]
        plan = ResponsePlan(
            outputs,
            status,
            details.get("reason"),
            details.get("error"),
            response.get("usage"),
        )
        return respond, plan, overrides, fixtures


def _shape(events: list[dict[str, Any]]) -> list[str]:
    """A response's event types without its deltas (how many deltas is the service's choice)."""
    return [
        _ga(str(e.get("type"))) for e in events if not str(e.get("type", "")).endswith(".delta")
    ]


def _standard(
    events: list[dict[str, Any]], plan: ResponsePlan, overrides: dict[str, Any], dialect: Dialect
) -> bool:
    """Whether the emulator, given ``plan``, sends the same sequence (deltas aside)."""
    session = Session(SessionOptions(dialect=dialect, pace=0.0, seed=0, max_duration_s=None))
    session.open(0.0)
    session.due(0.0)
    try:
        session.create_response(plan, overrides)
    except Exception:  # settings the emulator refuses: not a standard response
        return False
    made = [o.event for o in session.due(0.0) if isinstance(o, ServerEvent)]
    return _shape(made) == _shape(events)


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
    steps = _escape_templates(builder.build())
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
    refused = [_refused_attempt(t) for t in refusals]
    if refused:
        data["connections"] = [*refused, {"steps": steps}]
    else:
        data["steps"] = steps
    return Recording(redact(data, secrets), builder.audio)


def _refused_attempt(transcript: Transcript) -> dict[str, Any]:
    note = next(iter(transcript.events("note", REFUSED)), {})
    attempt = {k: note.get(k) for k in ("status", "message", "code", "type", "retry_after")}
    return {k: v for k, v in attempt.items() if v is not None}


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
        refused = [_refused_attempt(t) for t in self.refusals]
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
        snapshot = dataclasses.replace(transcript, entries=list(transcript.entries))
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
