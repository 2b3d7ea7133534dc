"""The session as a state machine under random client traffic and a moving clock.

A Hypothesis :class:`~hypothesis.stateful.RuleBasedStateMachine` drives
:class:`mock_server.session.Session` directly (no socket), in either dialect, through its public
API only: ``Session(SessionOptions(...))``, ``open``, ``receive``, ``due``, ``next_deadline``.
Its rules send valid and invalid client events (configuration, audio that is silence, a tone
the VAD hears, broken audio, items, responses in and out of the conversation, cancels, unknown
types, frames that are not events at all) and move the clock by random amounts or to the
session's own next deadline. After every step it checks, from the events alone:

- every ``response.created`` gets exactly one ``response.done`` with its id (at the end, the
  clock is run until nothing is pending; a response the session's close cut short is exempt,
  as on the live service, but nothing at all may follow a close);
- the conversation the item events describe (added/created, done, deleted, truncated, an input
  transcription completed) is the one ``conversation.item.retrieve`` answers: a known item is
  retrieved as the events last showed it (all of it, but the audio, once they have shown all
  of it), an unknown or deleted one is ``item_retrieve_invalid_item_id``; ``previous_item_id``
  names an item the conversation holds;
- every event conforms to the SDK's server-event union for the dialect (the check
  :mod:`mock_server.conformance` installs, :func:`server_event_problems`, run on each event
  here, so a non-conforming event fails the step that emitted it, not only the test's
  teardown), and its wire text is strict JSON of exactly that event;
- nothing raises, nothing is logged as an internal error, no ``server_error`` is emitted;
- after ``due(now)``, ``next_deadline()`` is never in the past.

Each failure shows the recent traffic (what was sent, what came back) that led to it.
"""

from __future__ import annotations

import base64
import json
import logging
from collections import deque
from typing import Any

import numpy as np
from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, rule

from mock_server.protocol.errors import RealtimeError
from mock_server.protocol.events import Dialect
from mock_server.protocol.validation import server_event_problems
from mock_server.responder import McpCallOutput, MessageOutput, ResponsePlan
from mock_server.session import Close, Drop, RawFrame, ServerEvent, Session, SessionOptions
from tests.helpers import WEATHER_TOOL

# An MCP server (GA only; beta refuses it) whose calls ask for approval unless "never".
MCP_TOOL = {"type": "mcp", "server_label": "docs", "server_url": "https://docs.example.com/mcp"}

RATE = 24_000  # PCM16 at 24 kHz: the default input format of both dialects
BYTES_PER_MS = RATE * 2 // 1000
# The final drain's bound: a response that needs more wake-ups than this never ends.
MAX_DRAIN_STEPS = 20_000
# A streaming response wakes the session at least this often (its chunks are 100 ms of audio,
# its text deltas 20 ms, at most real time): a response still open when only the session's
# expiry, further away than this, is scheduled has lost its response.done.
MAX_RESPONSE_WAKE_S = 5.0
UNKNOWN_ITEM = "item_never_was"


def _silence(ms: int) -> bytes:
    return bytes(ms * BYTES_PER_MS)


def _tone(ms: int) -> bytes:
    t = np.arange(ms * RATE // 1000) / RATE
    return (np.sin(2 * np.pi * 150 * t) * 8000).astype("<i2").tobytes()


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def _refuse_constant(token: str) -> Any:
    raise AssertionError(f"the wire text holds the non-JSON token {token}")


class _ErrorLog(logging.Handler):
    """Collects what the session logs at ERROR (it logs every internal error it contains)."""

    def __init__(self) -> None:
        super().__init__(logging.ERROR)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)


def _signature(item: dict[str, Any]) -> tuple[Any, ...]:
    """What an item is, whatever stage of its streaming an event shows it at."""
    return (item.get("id"), item.get("type"), item.get("role"), item.get("call_id"))


def _without_audio(item: dict[str, Any]) -> dict[str, Any]:
    """An item as the events show it: retrieve adds the audio itself, no other event does."""
    parts = [
        {key: value for key, value in part.items() if key != "audio"}
        for part in item.get("content") or []
    ]
    return {**item, "content": parts} if "content" in item else dict(item)


class SessionMachine(RuleBasedStateMachine):
    """One session, its clock, and the model of it the events describe."""

    def __init__(self) -> None:
        super().__init__()
        self.dialect = Dialect.GA
        self.session = Session(SessionOptions(pace=0.0))  # replaced by `start`
        self.now = 0.0
        self.expires_at: float | None = None  # the session opens at 0.0
        self.sent = 0
        # The recent traffic; a run of identical lines (the deltas of a part) is kept as one.
        self.history: deque[list[Any]] = deque(maxlen=60)
        self.open_responses: set[str] = set()
        self.done_responses: set[str] = set()
        self.cut_short: set[str] = set()  # in flight when the session closed
        self.closed = False
        # The conversation as its item events tell it: id -> the latest view of the item, in
        # conversation order (dicts keep insertion order; inserts in the middle rebuild it).
        self.items: dict[str, dict[str, Any]] = {}
        # The items whose whole state the events have told (added by the client, or done):
        # retrieve must answer exactly that (but the audio); the others, what they are.
        self.settled: set[str] = set()
        self.ever_items: list[str] = []
        self.call_ids: list[str] = []
        self.approval_ids: list[str] = []  # the model's mcp_approval_request items
        self.response_ids: list[str] = []
        # The retrieve awaiting its answer: (the client's event_id, the item it asked for).
        self.retrieving: tuple[str, str] | None = None
        self.errors = _ErrorLog()
        self.logger = logging.getLogger("realtime_mock")
        self.logger.addHandler(self.errors)

    # ---- driving ---------------------------------------------------------------------------

    @initialize(
        dialect=st.sampled_from(list(Dialect)),
        pace=st.sampled_from([0.0, 0.05, 1.0]),
        seed=st.integers(0, 3),
        # Short enough that the clock rules reach the expiry now and then.
        max_duration_s=st.sampled_from([None, 60.0]),
        # A configuration to begin with, so that the features it enables (input transcription,
        # the idle timeout, G.711, tools) meet the rest of the traffic more often.
        setup=st.lists(
            st.sampled_from(
                ["transcription", "idle_timeout", "g711", "tools", "text_only", "mcp", "mcp_never"]
            ),
            max_size=2,
            unique=True,
        ),
    )
    def start(
        self,
        dialect: Dialect,
        pace: float,
        seed: int,
        max_duration_s: float | None,
        setup: list[str],
    ) -> None:
        self.dialect = dialect
        self.expires_at = max_duration_s
        options = SessionOptions(
            dialect=dialect, pace=pace, seed=seed, max_duration_s=max_duration_s
        )
        self.session = Session(options)
        self.note(
            f"Session(dialect={dialect.value}, pace={pace}, seed={seed}, "
            f"max_duration_s={max_duration_s}).open(0.0)"
        )
        self.session.open(self.now)
        self.collect()
        for kind in setup:
            self.session_update(kind)

    def note(self, line: str) -> None:
        # Deltas interleave (audio, transcript): a delta joins a recent line just like it.
        recent = list(self.history)[-3:] if ".delta " in line else list(self.history)[-1:]
        same = next((entry for entry in recent if entry[0] == line), None)
        if same is not None:
            same[1] += 1
        else:
            self.history.append([line, 1])

    def fail(self, what: str) -> AssertionError:
        recent = "\n".join(
            f"  {line}" + (f"  (x{count})" if count > 1 else "") for line, count in self.history
        )
        return AssertionError(f"{what}\n[{self.dialect.value} session; recent traffic:]\n{recent}")

    def send(self, frame: dict[str, Any] | str | bytes) -> None:
        if isinstance(frame, dict):
            self.sent += 1
            frame = {"event_id": f"evt_{self.sent}", **frame}
            if frame.get("type") == "conversation.item.retrieve":
                self.retrieving = (frame["event_id"], frame["item_id"])
            text: str | bytes = json.dumps(frame)
        else:
            text = frame
        shown = text if len(text) <= 240 else f"{text[:200]!r}... ({len(text)} long)"
        self.note(f"t={self.now:g} >> {shown!s}")
        self.session.receive(text, self.now)
        self.collect()

    def collect(self) -> None:
        """Everything due now, each output checked as it comes."""
        for output in self.session.due(self.now):
            if self.closed:
                raise self.fail(f"{output!r} came after the session's close")
            if isinstance(output, ServerEvent):
                self.observe(output)
            elif isinstance(output, Close | Drop):
                self.note(f"t={self.now:g} << {output!r}")
                self.closed = True
                self.cut_short |= self.open_responses
                self.open_responses = set()
            elif isinstance(output, RawFrame):
                raise self.fail(f"a raw frame without a script asking for one: {output!r}")
        deadline = self.session.next_deadline()
        if deadline is not None and deadline < self.now:
            raise self.fail(f"next_deadline() is {deadline} after due({self.now})")

    # ---- what the session says -------------------------------------------------------------

    def observe(self, output: ServerEvent) -> None:
        event = output.event
        type_ = event.get("type")
        self.note(f"t={self.now:g} << {_brief(event)}")
        if json.loads(output.text, parse_constant=_refuse_constant) != event:
            raise self.fail(f"the wire text of {type_} is not the event it stands for")
        problems = server_event_problems(event, self.dialect)
        if problems:
            raise self.fail(f"{type_} does not conform to the SDK's {self.dialect.value} union: "
                            f"{problems}")  # fmt: skip
        if type_ == "error":
            self.on_error(event)
        elif type_ == "response.created":
            response_id = event["response"]["id"]
            if response_id in self.open_responses | self.done_responses:
                raise self.fail(f"response.created twice for {response_id}")
            self.open_responses.add(response_id)
            self.response_ids.append(response_id)
        elif type_ == "response.done":
            response_id = event["response"]["id"]
            if response_id in self.done_responses:
                raise self.fail(f"a second response.done for {response_id}")
            if response_id not in self.open_responses:
                raise self.fail(f"response.done for {response_id}, which was never created")
            self.open_responses.discard(response_id)
            self.done_responses.add(response_id)
        elif type_ in ("conversation.item.added", "conversation.item.created"):
            self.on_item_added(event)
        elif type_ == "conversation.item.done":
            self.require_item(event["item"]["id"], type_)
            self.settle(event["item"])
        elif type_ == "response.output_item.done" and event["item"]["id"] in self.items:
            self.settle(event["item"])  # beta's only word on a response's finished item
        elif type_ == "conversation.item.deleted":
            self.require_item(event["item_id"], type_)
            del self.items[event["item_id"]]
            self.settled.discard(event["item_id"])
        elif type_ == "conversation.item.truncated":
            self.require_item(event["item_id"], type_)
            # Truncating drops the server-side transcript of the part.
            self.update_part(event["item_id"], event["content_index"], transcript=None)
        elif type_ == "conversation.item.input_audio_transcription.completed":
            self.require_item(event["item_id"], type_)
            self.update_part(
                event["item_id"], event["content_index"], transcript=event["transcript"]
            )
        elif type_ == "conversation.item.retrieved":
            self.on_retrieved(event)

    def settle(self, item: dict[str, Any]) -> None:
        self.items[item["id"]] = item
        self.settled.add(item["id"])

    def update_part(self, item_id: str, index: int, **fields: Any) -> None:
        item = self.items[item_id]
        parts = list(item.get("content") or [])
        if not 0 <= index < len(parts):
            if item_id in self.settled:
                raise self.fail(f"content_index {index} of {item_id}, which has {len(parts)}")
            return
        parts[index] = {**parts[index], **fields}
        self.items[item_id] = {**item, "content": parts}

    def on_error(self, event: dict[str, Any]) -> None:
        error = event["error"]
        if error.get("type") == "server_error":
            raise self.fail(f"an internal error of ours: {error.get('message')}")
        if self.retrieving is not None and error.get("event_id") == self.retrieving[0]:
            asked = self.retrieving[1]
            self.retrieving = None
            if asked in self.items:
                raise self.fail(
                    f"retrieve says {asked} does not exist ({error.get('code')}), but the item "
                    "events announced it and never deleted it"
                )

    def on_item_added(self, event: dict[str, Any]) -> None:
        item = event["item"]
        item_id, previous = item["id"], event.get("previous_item_id")
        if item_id in self.items:
            raise self.fail(f"{event['type']} for {item_id}, which the conversation holds")
        if previous is not None and previous not in self.items:
            raise self.fail(
                f"{item_id} added after {previous}, which the conversation does not hold"
            )
        order = list(self.items.items())
        at = 0 if previous is None else [k for k, _ in order].index(previous) + 1
        order.insert(at, (item_id, item))
        self.items = dict(order)
        self.ever_items.append(item_id)
        if item.get("status") == "completed":
            self.settled.add(item_id)  # a client's item: whole from the start
        if item.get("type") == "function_call" and item.get("call_id"):
            self.call_ids.append(item["call_id"])
        if item.get("type") == "mcp_approval_request":
            self.approval_ids.append(item_id)

    def on_retrieved(self, event: dict[str, Any]) -> None:
        item = event["item"]
        if self.retrieving is None or self.retrieving[1] != item.get("id"):
            raise self.fail(f"retrieved {item.get('id')}, but the client asked {self.retrieving}")
        self.retrieving = None
        known = self.items.get(item.get("id"))
        if known is None:
            raise self.fail(f"retrieved {item.get('id')}, which the item events never announced "
                            "(or deleted)")  # fmt: skip
        if _signature(known) != _signature(item):
            raise self.fail(f"retrieved {_signature(item)}, announced as {_signature(known)}")
        if item["id"] in self.settled and _without_audio(item) != _without_audio(known):
            raise self.fail(
                f"retrieved {json.dumps(_without_audio(item))},\n the events said "
                f"{json.dumps(_without_audio(known))}"
            )

    def require_item(self, item_id: str, what: str) -> None:
        if item_id not in self.items:
            raise self.fail(f"{what} for {item_id}, which the conversation does not hold")

    # ---- the client's events ---------------------------------------------------------------

    @property
    def ga(self) -> bool:
        return self.dialect is Dialect.GA

    def update(self, **fields: Any) -> dict[str, Any]:
        if self.ga:
            fields = {"type": "realtime", **fields}
        return {"type": "session.update", "session": fields}

    @rule(
        kind=st.sampled_from(
            [
                "instructions",
                "text_only",
                "audio",
                "tools",
                "mcp",
                "mcp_never",
                "vad_on",
                "vad_off",
                "vad_no_reply",
                "transcription",
                "g711",
                "idle_timeout",
                "bad_enum",
                "unknown_field",
                "other_dialect",
                "no_type",
            ]
        )
    )
    def session_update(self, kind: str) -> None:
        vad = {"type": "server_vad"}
        shapes: dict[str, dict[str, Any]] = {
            "instructions": self.update(instructions="Be brief."),
            "text_only": self.update(output_modalities=["text"])
            if self.ga
            else self.update(modalities=["text"]),
            "audio": self.update(output_modalities=["audio"])
            if self.ga
            else self.update(modalities=["text", "audio"]),
            "tools": self.update(tools=[WEATHER_TOOL], tool_choice="required"),
            "mcp": self.update(tools=[MCP_TOOL]),
            "mcp_never": self.update(tools=[{**MCP_TOOL, "require_approval": "never"}]),
            "vad_on": self.update(audio={"input": {"turn_detection": vad}})
            if self.ga
            else self.update(turn_detection=vad),
            "vad_off": self.update(audio={"input": {"turn_detection": None}})
            if self.ga
            else self.update(turn_detection=None),
            "vad_no_reply": self.update(
                audio={"input": {"turn_detection": {**vad, "create_response": False}}}
            )
            if self.ga
            else self.update(turn_detection={**vad, "create_response": False}),
            "transcription": self.update(audio={"input": {"transcription": {"model": "whisper-1"}}})
            if self.ga
            else self.update(input_audio_transcription={"model": "whisper-1"}),
            "g711": self.update(
                audio={
                    "input": {"format": {"type": "audio/pcmu"}},
                    "output": {"format": {"type": "audio/pcmu"}},
                }
            )
            if self.ga
            else self.update(input_audio_format="g711_ulaw", output_audio_format="g711_ulaw"),
            # GA only: beta refuses the field (unknown_parameter).
            "idle_timeout": self.update(
                audio={"input": {"turn_detection": {**vad, "idle_timeout_ms": 5000}}}
            )
            if self.ga
            else self.update(turn_detection={**vad, "idle_timeout_ms": 5000}),
            "bad_enum": self.update(output_modalities=["smell"])
            if self.ga
            else self.update(modalities=["smell"]),
            "unknown_field": self.update(colour="blue"),
            # Each dialect's shape sent to the other.
            "other_dialect": {"type": "session.update", "session": {"modalities": ["text"]}}
            if self.ga
            else {"type": "session.update", "session": {"type": "realtime"}},
            "no_type": {"type": "session.update", "session": {"instructions": "x"}},
        }
        self.send(shapes[kind])

    @rule(
        kind=st.sampled_from(["silence", "tone", "odd", "bad_base64", "empty"]),
        ms=st.sampled_from([20, 100, 300, 900]),
    )
    def append(self, kind: str, ms: int) -> None:
        audio = {
            "silence": _b64(_silence(ms)),
            # Speech, then enough silence for the VAD to hear it stop.
            "tone": _b64(_tone(ms) + _silence(700)),
            "odd": _b64(_silence(ms) + b"\x01"),
            "bad_base64": "not base64!",
            "empty": "",
        }[kind]
        self.send({"type": "input_audio_buffer.append", "audio": audio})

    @rule(type_=st.sampled_from(["input_audio_buffer.commit", "input_audio_buffer.clear",
                                 "output_audio_buffer.clear"]))  # fmt: skip
    def buffer_event(self, type_: str) -> None:
        self.send({"type": type_})

    def known_item(self, data: st.DataObject) -> str:
        return data.draw(st.sampled_from([*self.ever_items, UNKNOWN_ITEM]), label="item_id")

    @rule(
        kind=st.sampled_from(
            ["user_text", "assistant_text", "call_output", "duplicate_id", "mcp_approval"]
        ),
        where=st.sampled_from(["end", "root", "after", "unknown"]),
        data=st.data(),
    )
    def item_create(self, kind: str, where: str, data: st.DataObject) -> None:
        if kind == "user_text":
            item: dict[str, Any] = {
                "type": "message",
                "role": "user",
                "content": [{"type": "input_text", "text": "What is the weather?"}],
            }
        elif kind == "assistant_text":
            text_type = "output_text" if self.ga else "text"
            item = {
                "type": "message",
                "role": "assistant",
                "content": [{"type": text_type, "text": "Sunny."}],
            }
        elif kind == "call_output":
            call_id = data.draw(st.sampled_from([*self.call_ids, "call_never_issued"]))
            item = {"type": "function_call_output", "call_id": call_id, "output": '{"c": 21}'}
        elif kind == "mcp_approval":
            item = {
                "type": "mcp_approval_response",
                "id": f"mcpa_{self.sent}",
                "approval_request_id": data.draw(
                    st.sampled_from([*self.approval_ids, "item_never_asked"])
                ),
                "approve": data.draw(st.booleans()),
            }
        else:
            item = {
                "id": self.known_item(data),
                "type": "message",
                "role": "user",
                "content": [{"type": "input_text", "text": "Again."}],
            }
        event: dict[str, Any] = {"type": "conversation.item.create", "item": item}
        if where == "root":
            event["previous_item_id"] = "root"
        elif where == "after":
            event["previous_item_id"] = self.known_item(data)
        elif where == "unknown":
            event["previous_item_id"] = "item_nowhere"
        self.send(event)

    @rule(data=st.data())
    def item_retrieve(self, data: st.DataObject) -> None:
        self.send({"type": "conversation.item.retrieve", "item_id": self.known_item(data)})
        if self.retrieving is not None and not self.closed:
            raise self.fail(f"retrieve {self.retrieving} got no answer")
        self.retrieving = None

    @rule(data=st.data())
    def item_delete(self, data: st.DataObject) -> None:
        self.send({"type": "conversation.item.delete", "item_id": self.known_item(data)})

    @rule(data=st.data(), end_ms=st.sampled_from([0, 50, 10**6]), index=st.sampled_from([0, 1]))
    def item_truncate(self, data: st.DataObject, end_ms: int, index: int) -> None:
        self.send(
            {
                "type": "conversation.item.truncate",
                "item_id": self.known_item(data),
                "content_index": index,
                "audio_end_ms": end_ms,
            }
        )

    @rule(kind=st.sampled_from(["default", "out_of_band", "instructions", "one_token", "tool"]))
    def response_create(self, kind: str) -> None:
        tokens = "max_output_tokens" if self.ga else "max_response_output_tokens"
        response: dict[str, Any] | None = {
            "default": None,
            "out_of_band": {"conversation": "none", "metadata": {"topic": "side"}},
            "instructions": {"instructions": "Answer in one word."},
            "one_token": {tokens: 1},
            "tool": {"tools": [WEATHER_TOOL], "tool_choice": "required"},
        }[kind]
        self.send({"type": "response.create", **({"response": response} if response else {})})

    @rule(error=st.booleans())
    def mcp_response(self, error: bool) -> None:
        """A scenario's response with an MCP call (the canned model makes none)."""
        if self.closed:
            return  # a script acts only on an open session
        failure = {"type": "tool_execution_error", "message": "offline"} if error else None
        call = McpCallOutput("docs", "search", '{"q": "x"}', None if error else "found", failure)
        self.note(f"t={self.now:g} session.create_response(mcp_call, error={error})")
        try:
            self.session.create_response(ResponsePlan([call, MessageOutput("Found.")]))
        except RealtimeError as refused:  # a response already in progress
            self.note(f"    refused: {refused}")
        self.collect()

    @rule(data=st.data())
    def response_cancel(self, data: st.DataObject) -> None:
        which = data.draw(st.sampled_from([None, "resp_never_was", *self.response_ids]))
        self.send({"type": "response.cancel", **({"response_id": which} if which else {})})

    @rule(
        frame=st.sampled_from(
            [
                b"\x00\x01binary",
                "{not json",
                "[1, 2]",
                '"text"',
                '{"event_id": "evt_no_type"}',
                '{"type": 7}',
                '{"type": "no.such.event"}',
                '{"type": "transcription_session.update"}',
            ]
        )
    )
    def malformed(self, frame: str | bytes) -> None:
        self.send(frame)

    # ---- the clock -------------------------------------------------------------------------

    @rule(seconds=st.sampled_from([0.0, 0.01, 0.1, 0.5, 2.0]) | st.floats(0, 5))
    def advance(self, seconds: float) -> None:
        self.now += seconds
        self.note(f"t={self.now:g} (clock +{seconds:g})")
        self.collect()

    @rule()
    def advance_to_next_deadline(self) -> None:
        deadline = self.session.next_deadline()
        if deadline is not None:
            self.now = max(self.now, deadline)
            self.note(f"t={self.now:g} (clock to the next deadline)")
            self.collect()

    # ---- checks ----------------------------------------------------------------------------

    @invariant()
    def nothing_went_wrong_inside(self) -> None:
        if self.errors.records:
            record = self.errors.records[0]
            raise self.fail(f"the session logged an internal error: {record.getMessage()} "
                            f"{record.exc_info[1] if record.exc_info else ''}")  # fmt: skip

    def teardown(self) -> None:
        try:
            for _ in range(MAX_DRAIN_STEPS):
                if not self.open_responses:
                    break
                deadline = self.session.next_deadline()
                if deadline is None:
                    raise self.fail(
                        f"responses {sorted(self.open_responses)} are open, but the session "
                        "has nothing scheduled to end them"
                    )
                if deadline == self.expires_at and deadline - self.now > MAX_RESPONSE_WAKE_S:
                    raise self.fail(
                        f"responses {sorted(self.open_responses)} are open, but only the "
                        f"session's expiry at t={deadline:g} is scheduled"
                    )
                self.now = max(self.now, deadline)
                self.collect()
            if self.open_responses:
                raise self.fail(
                    f"responses {sorted(self.open_responses)} got no response.done in "
                    f"{MAX_DRAIN_STEPS} wake-ups"
                )
            self.nothing_went_wrong_inside()
        finally:
            self.logger.removeHandler(self.errors)


def _brief(event: dict[str, Any]) -> str:
    """An event in one line: its type and the fields that say which thing it is about."""
    parts = [str(event.get("type"))]
    for key in ("item_id", "previous_item_id", "response_id"):
        if key in event:
            parts.append(f"{key}={event[key]}")
    if isinstance(event.get("item"), dict):
        parts.append(f"item={_signature(event['item'])}")
    if isinstance(event.get("response"), dict):
        response = event["response"]
        parts.append(f"response={response.get('id')} {response.get('status')}")
    if isinstance(event.get("error"), dict):
        error = event["error"]
        parts.append(f"error={error.get('code')} ({str(error.get('message'))[:80]})")
    return " ".join(parts)


SessionMachine.TestCase.settings = settings(settings.default, stateful_step_count=30, deadline=None)
TestSessionMachine = SessionMachine.TestCase


def test_the_machine_s_tone_is_speech_to_the_vad() -> None:
    # Else the machine's VAD rules would test nothing.
    session = Session(SessionOptions(pace=0.0, seed=1))
    session.open(0.0)
    frame = {"type": "input_audio_buffer.append", "audio": _b64(_tone(300) + _silence(700))}
    session.receive(json.dumps(frame), 0.0)
    types = [o.event["type"] for o in session.due(0.0) if isinstance(o, ServerEvent)]
    assert "input_audio_buffer.speech_started" in types, types
    assert "response.done" in types, types
