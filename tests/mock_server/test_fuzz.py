"""Fuzzing the live server over loopback: bad input gets the live service's answer, nothing breaks.

One server serves the whole module and the connections are reused across examples, so the CI
profile stays fast; ``HYPOTHESIS_PROFILE=long`` runs many more examples on demand. After every
frame a probe (a ``conversation.item.retrieve``) must be answered on the same connection, so a frame
that hurt the session is found at once, and a bystander session on the same server must still
answer after each example. The frames and sessions tried are counted into the test report
(``fuzz_frames`` / ``fuzz_sessions`` user properties; tests/conftest.py prints their sum).

What "the live service's answer" is here: a rejected event gets exactly one ``error`` event of
type ``invalid_request_error`` whose ``event_id`` names the client's event (when the client gave
a string ``event_id``), and the session goes on; a text frame that is not UTF-8 closes the
connection with 1007 (RFC 6455, what any conforming server does); an ``error`` never echoes
megabytes of the client's input back in its message; nothing ever becomes a ``server_error``;
every server frame is strict JSON (RFC 8259: no ``NaN`` or ``Infinity``, which
:func:`strict_json` refuses); a forced tool's arguments stay bounded whatever its schema says.
"""

from __future__ import annotations

import base64
import binascii
import copy
import itertools
import json
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st
from websockets.exceptions import ConnectionClosed
from websockets.sync.client import ClientConnection, connect

from mock_server.protocol.frames import MAX_EVENT_DEPTH, MAX_FRAME_VALUES
from mock_server.server import Mount, ThreadedMockServer
from tests.helpers import KEY, WAIT

# An error may quote a little of the offending input; never megabytes of it.
MAX_ERROR_MESSAGE = 2000
SILENCE_100MS = base64.b64encode(bytes(4800)).decode()

GA_EVENTS: dict[str, dict[str, Any]] = {
    "session.update": {
        "type": "session.update",
        "session": {"type": "realtime", "instructions": "Be brief.", "output_modalities": ["text"]},
    },
    "input_audio_buffer.append": {"type": "input_audio_buffer.append", "audio": SILENCE_100MS},
    "input_audio_buffer.commit": {"type": "input_audio_buffer.commit"},
    "input_audio_buffer.clear": {"type": "input_audio_buffer.clear"},
    "conversation.item.create": {
        "type": "conversation.item.create",
        "item": {
            "type": "message",
            "role": "user",
            "content": [{"type": "input_text", "text": "What is the weather?"}],
        },
    },
    "conversation.item.retrieve": {"type": "conversation.item.retrieve", "item_id": "item_none"},
    "conversation.item.delete": {"type": "conversation.item.delete", "item_id": "item_none"},
    "conversation.item.truncate": {
        "type": "conversation.item.truncate",
        "item_id": "item_none",
        "content_index": 0,
        "audio_end_ms": 0,
    },
    "response.create": {"type": "response.create", "response": {"instructions": "Answer."}},
    "response.cancel": {"type": "response.cancel"},
}
BETA_EVENTS: dict[str, dict[str, Any]] = {
    **GA_EVENTS,
    "session.update": {
        "type": "session.update",
        "session": {"instructions": "Be brief.", "modalities": ["text"]},
    },
}
# Fields without which an event is rejected (missing_required_parameter).
REQUIRED: dict[str, list[tuple[str | int, ...]]] = {
    "session.update": [("session",)],
    "input_audio_buffer.append": [("audio",)],
    "conversation.item.create": [("item",)],
    "conversation.item.retrieve": [("item_id",)],
    "conversation.item.delete": [("item_id",)],
    "conversation.item.truncate": [("item_id",), ("content_index",), ("audio_end_ms",)],
}
# Objects of the SDK's models (not free-form maps): an unknown key there is unknown_parameter.
MODEL_OBJECTS: dict[str, list[tuple[str | int, ...]]] = {
    "session.update": [(), ("session",)],
    "conversation.item.create": [(), ("item",), ("item", "content", 0)],
    "response.create": [(), ("response",)],
}

JSON_SCALARS = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**63), max_value=2**63),
    st.floats(allow_nan=False, allow_infinity=False),
    st.text(max_size=30),
)
JSON_VALUES = st.recursive(
    JSON_SCALARS,
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4)
    ),
    max_leaves=12,
)


def _refuse_constant(token: str) -> Any:
    raise AssertionError(f"the server sent the non-JSON token {token}")


def strict_json(text: str | bytes) -> Any:
    """A server frame, parsed as RFC 8259 JSON (strict clients refuse ``NaN``/``Infinity``)."""
    return json.loads(text, parse_constant=_refuse_constant)


def json_kind(value: Any) -> str:
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int | float):
        return "number"
    return {str: "string", list: "array", dict: "object", type(None): "null"}[type(value)]


# ---- the connections -------------------------------------------------------------------------


class Link:
    """A fuzzing connection that reconnects when the server closed it, and counts what it did."""

    def __init__(self, url: str, headers: dict[str, str], counts: dict[str, int]) -> None:
        self.url = url
        self.headers = headers
        self.counts = counts
        self.ws: ClientConnection | None = None
        self.probes = itertools.count(1)

    def open(self) -> ClientConnection:
        if self.ws is None:
            self.ws = connect(
                self.url, additional_headers=self.headers, max_size=None, open_timeout=WAIT
            )
            self.counts["sessions"] += 1
            first = self.recv()
            assert first["type"] == "session.created", first
            if "OpenAI-Beta" in self.headers:
                assert self.recv()["type"] == "conversation.created"
        return self.ws

    def recv(self) -> dict[str, Any]:
        assert self.ws is not None
        try:
            event: dict[str, Any] = strict_json(self.ws.recv(timeout=WAIT))
        except (ConnectionClosed, TimeoutError):
            self.ws = None  # the next example starts a new session; this one failed
            raise
        except AssertionError:
            self.close()  # its unread answers must not reach the next example
            raise
        return event

    def send(self, frame: str | bytes, *, text: bool | None = None) -> None:
        self.open().send(frame, text=text)
        self.counts["frames"] += 1

    def probe(self) -> list[dict[str, Any]]:
        """Send a valid event and return everything that came before its answer.

        The probe retrieves an item that does not exist: its answer is the only one that names
        the probe's ``event_id`` (a fuzzed frame may well be an ``input_audio_buffer.clear``).
        """
        probe_id = f"probe_{next(self.probes)}"
        probe = {"type": "conversation.item.retrieve", "item_id": probe_id, "event_id": probe_id}
        self.send(json.dumps(probe))
        before: list[dict[str, Any]] = []
        while True:
            event = self.recv()
            if event["type"] == "error" and event["error"]["event_id"] == probe_id:
                assert event["error"]["code"] == "item_retrieve_invalid_item_id", event
                return before
            before.append(event)

    def exchange(self, frame: str | bytes) -> list[dict[str, Any]]:
        """Send one frame; the events it caused (the connection must still answer a probe)."""
        self.send(frame)
        return self.probe()

    def expect_close(self, frame: str | bytes, *, text: bool | None = None) -> int:
        """Send a frame the server must close the connection for; the close code."""
        self.send(frame, text=text)
        try:
            while True:
                self.recv()
        except ConnectionClosed as closed:
            assert closed.rcvd is not None, "closed without a close frame"
            return closed.rcvd.code
        finally:
            self.close()

    def close(self) -> None:
        if self.ws is not None:
            self.ws.close()
            self.ws = None


class Fuzz:
    """The module's server and its reusable connections."""

    def __init__(self, url: str) -> None:
        self.counts = {"frames": 0, "sessions": 0}
        self.ga = Link(url, KEY, self.counts)
        self.beta = Link(
            url + "?model=gpt-4o-realtime-preview",
            {**KEY, "OpenAI-Beta": "realtime=v1"},
            self.counts,
        )
        self.bystander = Link(url, KEY, self.counts)
        self.spare = Link(url, KEY, self.counts)  # for frames that end the connection
        # Sessions whose tools the schema fuzz rewrites: a forced tool must not leak into the
        # other tests' sessions.
        self.tools = {
            "ga": Link(url, KEY, self.counts),
            "beta": Link(
                url + "?model=gpt-4o-realtime-preview",
                {**KEY, "OpenAI-Beta": "realtime=v1"},
                self.counts,
            ),
        }

    def link(self, dialect: str) -> Link:
        return self.ga if dialect == "ga" else self.beta

    def bystander_unaffected(self) -> None:
        assert self.bystander.probe() == [], "another session's traffic reached the bystander"

    def close(self) -> None:
        for link in (self.ga, self.beta, self.bystander, self.spare, *self.tools.values()):
            link.close()


@pytest.fixture(scope="module")
def fuzz() -> Iterator[Fuzz]:
    with ThreadedMockServer(port=0, default_mount=Mount(pace=0.0, seed=7)) as server:
        fuzz = Fuzz(server.ws_url)
        fuzz.bystander.open()
        try:
            yield fuzz
        finally:
            fuzz.close()


@pytest.fixture(autouse=True)
def _count_and_check_the_bystander(
    fuzz: Fuzz, record_property: Callable[[str, object], None]
) -> Iterator[None]:
    """After each test: the bystander session still answers; the counts go into the report."""
    before = dict(fuzz.counts)
    yield
    fuzz.bystander_unaffected()
    record_property("fuzz_frames", fuzz.counts["frames"] - before["frames"])
    record_property("fuzz_sessions", fuzz.counts["sessions"] - before["sessions"])


# ---- the oracle ------------------------------------------------------------------------------


def errors_in(events: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [e["error"] for e in events if e["type"] == "error"]


def assert_no_internal_error(events: list[dict[str, Any]]) -> None:
    for error in errors_in(events):
        assert error["type"] != "server_error", error
        assert len(error["message"]) <= MAX_ERROR_MESSAGE, error["message"][:300]


def assert_rejected(events: list[dict[str, Any]], event_id: str | None) -> dict[str, Any]:
    """Exactly one error, naming the client's event, and nothing else."""
    assert [e["type"] for e in events] == ["error"], [(e["type"], e.get("error")) for e in events]
    error: dict[str, Any] = events[0]["error"]
    assert error["type"] == "invalid_request_error", error
    assert error["event_id"] == event_id, error
    assert_no_internal_error(events)
    return error


def event_id_of(event: Any) -> str | None:
    if isinstance(event, dict) and isinstance(event.get("event_id"), str):
        return event["event_id"]
    return None


def dump(event: Any) -> str:
    return json.dumps(event, separators=(",", ":"))


# ---- the strategies --------------------------------------------------------------------------

DIALECTS = st.sampled_from(["ga", "beta"])
EVENT_IDS = st.text(
    alphabet=st.characters(codec="utf-8", exclude_categories=["Cs"]), min_size=1, max_size=40
)


def paths(value: Any, prefix: tuple[str | int, ...] = ()) -> Iterator[tuple[str | int, ...]]:
    """Every path into ``value`` (its own fields, nested ones, list items)."""
    if isinstance(value, dict):
        for key, inner in value.items():
            yield (*prefix, key)
            yield from paths(inner, (*prefix, key))
    elif isinstance(value, list):
        for index, inner in enumerate(value):
            yield (*prefix, index)
            yield from paths(inner, (*prefix, index))


def get_at(value: Any, path: tuple[str | int, ...]) -> Any:
    for segment in path:
        value = value[segment]
    return value


@st.composite
def wrong_field_events(draw: st.DrawFn) -> tuple[str, dict[str, Any]]:
    """A valid event of a real type with one field missing, of a wrong JSON type, or extra."""
    dialect = draw(DIALECTS)
    table = GA_EVENTS if dialect == "ga" else BETA_EVENTS
    type_ = draw(st.sampled_from(sorted(table)))
    event = copy.deepcopy(table[type_])
    event["event_id"] = draw(EVENT_IDS)
    mutation = draw(st.sampled_from(["missing", "wrong_type", "extra"]))
    if mutation == "missing" and type_ in REQUIRED:
        path = draw(st.sampled_from(REQUIRED[type_]))
        del get_at(event, path[:-1])[path[-1]]
    elif mutation == "extra" and type_ in MODEL_OBJECTS:
        where = get_at(event, draw(st.sampled_from(MODEL_OBJECTS[type_])))
        where["x_" + draw(st.text(max_size=12))] = draw(JSON_VALUES)
    else:
        choices = [p for p in paths(event) if p != ("type",)]
        path = draw(st.sampled_from(choices))
        original = get_at(event, path)
        replacement = draw(
            JSON_VALUES.filter(lambda v: v is not None and json_kind(v) != json_kind(original))
        )
        get_at(event, path[:-1])[path[-1]] = replacement
    return dialect, event


@given(case=wrong_field_events())
def test_valid_types_with_wrong_missing_or_extra_fields_are_rejected_naming_the_event(
    fuzz: Fuzz, case: tuple[str, dict[str, Any]]
) -> None:
    dialect, event = case
    events = fuzz.link(dialect).exchange(dump(event))
    error = assert_rejected(events, event_id_of(event))
    assert error["code"] in {
        "missing_required_parameter",
        "invalid_type",
        "unknown_parameter",
        "invalid_value",
    }, error


@given(dialect=DIALECTS, frame=JSON_VALUES)
def test_any_json_value_gets_an_answer_and_the_session_goes_on(
    fuzz: Fuzz, dialect: str, frame: Any
) -> None:
    events = fuzz.link(dialect).exchange(dump(frame))
    assert_rejected(events, event_id_of(frame))


@given(
    dialect=DIALECTS,
    type_=st.one_of(st.text(max_size=40), st.sampled_from(sorted(GA_EVENTS))),
    fields=st.dictionaries(st.text(max_size=10), JSON_VALUES, max_size=4),
    event_id=st.one_of(st.none(), EVENT_IDS, JSON_SCALARS),
)
def test_random_events_never_cause_an_internal_error(
    fuzz: Fuzz, dialect: str, type_: str, fields: dict[str, Any], event_id: Any
) -> None:
    event = {**fields, "type": type_}
    if event_id is not None:
        event["event_id"] = event_id
    events = fuzz.link(dialect).exchange(dump(event))
    assert_no_internal_error(events)
    for error in errors_in(events):
        assert error["event_id"] == event_id_of(event), error


HUGE = st.sampled_from([2**10, 2**16, 2**20 + 3, 3 * 2**20])


@given(
    dialect=DIALECTS,
    where=st.sampled_from(["type", "extra_key", "event_id", "text", "item_id", "bad_audio"]),
    size=HUGE,
)
def test_huge_strings(fuzz: Fuzz, dialect: str, where: str, size: int) -> None:
    huge = "é" * (size // 2)
    item = copy.deepcopy(GA_EVENTS["conversation.item.create"])
    item["event_id"] = "evt_huge"
    if where == "type":
        event = {"type": huge, "event_id": "evt_huge"}
    elif where == "extra_key":
        event = {**item, huge: 1}
    elif where == "event_id":
        event = {**GA_EVENTS["conversation.item.retrieve"], "event_id": huge}
    elif where == "text":
        item["item"]["content"][0]["text"] = huge
        event = item
    elif where == "item_id":
        event = {**GA_EVENTS["conversation.item.delete"], "item_id": huge, "event_id": "evt_huge"}
    else:
        event = {"type": "input_audio_buffer.append", "audio": huge, "event_id": "evt_huge"}
    events = fuzz.link(dialect).exchange(dump(event))
    if where == "text":
        assert errors_in(events) == []
        created = events[-1]["item"]
        assert created["content"][0]["text"] == huge
    else:
        assert_rejected(events, event_id_of(event))


@given(
    dialect=DIALECTS,
    depth=st.sampled_from([2, 10, 64, 100, 500, 1000, 10_000, 200_000]),
    where=st.sampled_from(["frame", "instructions", "metadata", "extra"]),
    brackets=st.sampled_from(["arrays", "objects"]),
)
def test_deep_nesting(fuzz: Fuzz, dialect: str, depth: int, where: str, brackets: str) -> None:
    inner = (
        '{"a":' * depth + "1" + "}" * depth if brackets == "objects" else "[" * depth + "]" * depth
    )
    if where == "frame":
        frame = inner
        event_id = None
    else:
        event_id = "evt_deep"
        holder = {
            "instructions": '{"type":"response.create","event_id":"evt_deep",'
            '"response":{"instructions":%s}}',
            "metadata": '{"type":"response.create","event_id":"evt_deep",'
            '"response":{"metadata":{"k":%s}}}',
            "extra": '{"type":"response.cancel","event_id":"evt_deep","x":%s}',
        }[where]
        frame = holder % inner
    events = fuzz.link(dialect).exchange(frame)
    if depth >= 500 and errors_in(events)[0]["event_id"] is None:
        event_id = None  # too deep for the parser itself: the event's id is out of reach
    error = assert_rejected(events, event_id)
    if depth > MAX_EVENT_DEPTH:
        assert error["code"] == "invalid_json"
        if frame.count("{") + frame.count("[") > MAX_FRAME_VALUES:
            # So many objects that the frame is refused before it is parsed at all.
            assert f"at most {MAX_FRAME_VALUES:,} are parsed in one event" in error["message"]
            return
        assert error["message"] == (
            "We could not parse the JSON body of your request: it is nested more than "
            f"{MAX_EVENT_DEPTH} levels deep."
        )


@st.composite
def not_base64(draw: st.DrawFn) -> str:
    text = draw(st.text(max_size=200))
    try:
        base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError):
        return text
    # Valid base64: break it with a character outside the alphabet or a bad length.
    return text + draw(st.sampled_from(["!", "*", "=", "A", "é", " "]))


@given(dialect=DIALECTS, audio=not_base64())
def test_invalid_base64_audio_is_invalid_value(fuzz: Fuzz, dialect: str, audio: str) -> None:
    event = {"type": "input_audio_buffer.append", "audio": audio, "event_id": "evt_b64"}
    try:
        base64.b64decode(audio, validate=True)
    except (binascii.Error, ValueError):
        pass
    else:
        return  # e.g. "A" + "=" padding that happens to decode; not this test's concern
    error = assert_rejected(fuzz.link(dialect).exchange(dump(event)), "evt_b64")
    assert (error["code"], error["param"]) == ("invalid_value", "audio")


@given(dialect=DIALECTS, frame=st.binary(max_size=300))
def test_binary_frames_get_invalid_event(fuzz: Fuzz, dialect: str, frame: bytes) -> None:
    error = assert_rejected(fuzz.link(dialect).exchange(frame), None)
    assert error["code"] == "invalid_event"
    assert "JSON text frame" in error["message"]


@given(dialect=DIALECTS, frame=st.text(max_size=300))
def test_random_text_gets_one_error(fuzz: Fuzz, dialect: str, frame: str) -> None:
    try:
        parsed = json.loads(frame)
    except ValueError:
        parsed = None
    else:
        if isinstance(parsed, dict) and isinstance(parsed.get("type"), str):
            return  # an event after all; the field tests cover those
    error = assert_rejected(fuzz.link(dialect).exchange(frame), event_id_of(parsed))
    assert error["code"] in {"invalid_json", "invalid_event", "invalid_type"}


@given(
    prefix=st.text(max_size=40).map(str.encode),
    bad=st.sampled_from([b"\xff", b"\xc3\x28", b"\xed\xa0\x80", b"\xf8\x88\x80\x80\x80", b"\x80"]),
    suffix=st.binary(max_size=40),
)
def test_invalid_utf8_in_a_text_frame_closes_with_1007(
    fuzz: Fuzz, prefix: bytes, bad: bytes, suffix: bytes
) -> None:
    # After whole characters, each `bad` sequence is invalid UTF-8 whatever follows.
    frame = prefix + bad + suffix
    assert fuzz.spare.expect_close(frame, text=True) == 1007
    # The next connection is served as usual.
    assert fuzz.spare.probe() == []


@given(
    dialect=DIALECTS,
    sequence=st.lists(st.sampled_from(sorted(GA_EVENTS)), min_size=1, max_size=8),
)
def test_events_out_of_order_get_the_live_errors(
    fuzz: Fuzz, dialect: str, sequence: list[str]
) -> None:
    table = GA_EVENTS if dialect == "ga" else BETA_EVENTS
    link = fuzz.link(dialect)
    sent = []
    for n, type_ in enumerate(sequence):
        event = {**copy.deepcopy(table[type_]), "event_id": f"evt_seq_{n}"}
        link.send(dump(event))
        sent.append(event["event_id"])
    events = link.probe()
    assert_no_internal_error(events)
    for error in errors_in(events):
        assert error["event_id"] in sent, error
        assert error["code"] in {
            "input_audio_buffer_commit_empty",
            "response_cancel_not_active",
            "item_retrieve_invalid_item_id",
            "item_delete_invalid_item_id",
            "item_truncate_invalid_item_id",
            "invalid_value",
            "conversation_already_has_active_response",
        }, error


# ---- numbers JSON allows and Python refuses, tokens JSON does not allow -----------------------

NUMBER = "__fuzz_number__"
# Where a token goes: a numeric field the event has, an extra key, or the whole frame.
NUMBER_PLACES: dict[str, tuple[str, tuple[str | int, ...]]] = {
    "frame": ("response.cancel", ()),
    "extra": ("response.cancel", ("x",)),
    "event_id": ("conversation.item.retrieve", ("event_id",)),
    "audio_end_ms": ("conversation.item.truncate", ("audio_end_ms",)),
    "content_index": ("conversation.item.truncate", ("content_index",)),
    "max_output_tokens": ("response.create", ("response", "max_output_tokens")),
    "metadata": ("response.create", ("response", "metadata", "k")),
    "threshold": ("session.update", ("session", "turn_detection", "threshold")),
    "in_a_list": ("response.create", ("response", "metadata", "k", 0)),
}


def with_token(dialect: str, place: str, token: str) -> tuple[str, str | None]:
    """The frame text of an otherwise valid event with ``token`` (any JSON-ish number text) at
    ``place``; and the event's ``event_id``."""
    type_, path = NUMBER_PLACES[place]
    if not path:
        return token, None
    table = GA_EVENTS if dialect == "ga" else BETA_EVENTS
    event = copy.deepcopy(table[type_])
    if type_ == "session.update" and dialect == "ga":
        event["session"]["audio"] = {"input": {"turn_detection": {"type": "server_vad"}}}
        path = ("session", "audio", "input", "turn_detection", "threshold")
    elif type_ == "session.update":
        event["session"]["turn_detection"] = {"type": "server_vad"}
    event.setdefault("event_id", "evt_number")
    where: Any = event
    for segment, following in itertools.pairwise(path):
        if isinstance(where, dict) and segment not in where:
            where[segment] = [] if isinstance(following, int) else {}
        where = where[segment]
    if isinstance(path[-1], int):
        where.append(NUMBER)
    else:
        where[path[-1]] = NUMBER
    return dump(event).replace(f'"{NUMBER}"', token), event_id_of(
        event
    ) if place != "event_id" else None


def assert_answered_plainly(events: list[dict[str, Any]], event_id: str | None) -> None:
    """However the event is judged, nothing internal breaks and errors name it (or no event:
    a frame the parser refuses has no event to name)."""
    assert_no_internal_error(events)
    for error in errors_in(events):
        assert error["event_id"] in (event_id, None), error
        assert error["type"] == "invalid_request_error", error


@st.composite
def big_integers(draw: st.DrawFn) -> str:
    """Integer text of any length: Python refuses to parse over 4,300 digits by default."""
    digits = draw(
        st.sampled_from([1, 19, 20, 309, 4300, 4301, 5000, 50_000]) | st.integers(1, 6000)
    )
    first = draw(st.sampled_from("123456789"))
    rest = draw(st.text(alphabet="0123456789", min_size=0, max_size=20))
    body = (first + rest * (digits // max(1, len(rest)) + 1))[:digits] if rest else first * digits
    return draw(st.sampled_from(["", "-"])) + body


@given(dialect=DIALECTS, place=st.sampled_from(sorted(NUMBER_PLACES)), number=big_integers())
def test_integers_of_any_size_get_an_answer_and_the_session_goes_on(
    fuzz: Fuzz, dialect: str, place: str, number: str
) -> None:
    frame, event_id = with_token(dialect, place, number)
    events = fuzz.link(dialect).exchange(frame)
    assert_answered_plainly(events, event_id)
    if len(number.lstrip("-")) > 4300:
        # Valid JSON the parser cannot hold: refused, like any frame it cannot parse.
        assert len(errors_in(events)) == 1, events
        assert errors_in(events)[0]["code"] == "invalid_json", events


@given(
    dialect=DIALECTS,
    place=st.sampled_from(sorted(NUMBER_PLACES)),
    token=st.sampled_from(["NaN", "Infinity", "-Infinity"]),
)
def test_nan_and_infinity_tokens_are_never_echoed_and_break_nothing(
    fuzz: Fuzz, dialect: str, place: str, token: str
) -> None:
    frame, event_id = with_token(dialect, place, token)
    events = fuzz.link(dialect).exchange(frame)  # every answer parsed strictly (Link.recv)
    assert_answered_plainly(events, event_id)
    assert errors_in(events), f"{token} accepted in {place}: {[e['type'] for e in events]}"


# ---- random JSON Schemas for a forced tool ------------------------------------------------------

# Generated arguments beyond this are a flood, whatever the schema asks for (issue 13).
MAX_ARGUMENTS = 1024 * 1024
JUNK = st.one_of(
    st.text(max_size=4),
    st.lists(st.integers(-3, 3), max_size=2),
    st.none(),
    st.booleans(),
    st.floats(allow_nan=False, allow_infinity=False),
)
SIZES = st.sampled_from([0, 1, 3, -1, 100, 10**6, 2 * 10**6, 10**12]) | JUNK
SCHEMA_TYPES = st.sampled_from(
    ["object", "array", "string", "number", "integer", "boolean", "null", "nonsense"]
)
REFS = st.sampled_from(["#/$defs/a", "#/$defs/b", "#/definitions/a", "#", "#/nope", "x"])
SCHEMA_LEAVES = st.fixed_dictionaries(
    {},
    optional={
        "type": SCHEMA_TYPES | st.lists(SCHEMA_TYPES, max_size=3) | JUNK,
        "minLength": SIZES,
        "maxLength": SIZES,
        "minItems": SIZES,
        "maxItems": SIZES,
        "minimum": SIZES,
        "maximum": SIZES,
        "exclusiveMinimum": SIZES,
        "multipleOf": SIZES,
        "format": st.sampled_from(["date", "email", "uuid", "x"]) | JUNK,
        "enum": st.lists(JSON_SCALARS, max_size=3) | JUNK,
        "const": JSON_VALUES,
        "$ref": REFS | JUNK,
    },
)


def _schema_nodes(inner: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    children = st.one_of(
        inner, JUNK, st.lists(inner, max_size=2), st.lists(JSON_SCALARS, max_size=2)
    )
    return st.builds(
        lambda leaf, more: {**leaf, **more},
        SCHEMA_LEAVES,
        st.fixed_dictionaries(
            {},
            optional={
                "properties": st.dictionaries(st.text(max_size=4), inner, max_size=3) | JUNK,
                "required": st.lists(st.text(max_size=4), max_size=3) | JUNK,
                "items": children,
                "anyOf": st.lists(children, max_size=3) | JUNK,
                "oneOf": st.lists(children, max_size=3) | JUNK,
                "allOf": st.lists(children, max_size=3) | JUNK,
                "$defs": st.dictionaries(st.sampled_from(["a", "b"]), inner, max_size=2) | JUNK,
                "definitions": st.dictionaries(st.sampled_from(["a"]), inner, max_size=1),
            },
        ),
    )


# Schemas known to hurt a naive synthesiser: huge sizes, unreadable values, a self-reference
# that fans out six ways (6 ** 6 values at the synthesis's depth limit).
HOSTILE_SCHEMAS: list[dict[str, Any]] = [
    {"type": "object", "properties": {"s": {"type": "string", "minLength": 2_000_000}}},
    {"type": "object", "properties": {"a": {"type": "array", "minItems": 200_000}}},
    {"type": "object", "properties": {"a": {"type": "array", "minItems": "x"}}},
    {"type": "object", "allOf": [[1]]},
    {
        "$ref": "#/$defs/a",
        "$defs": {
            "a": {"type": "object", "properties": {k: {"$ref": "#/$defs/a"} for k in "abcdef"}}
        },
    },
    {"$ref": "#"},
    # Nested sizes: 100 x 100 strings of 200 characters, 2 MB of arguments.
    {
        "type": "object",
        "properties": {
            "a": {
                "type": "array",
                "minItems": 100,
                "items": {
                    "type": "array",
                    "minItems": 100,
                    "items": {"type": "string", "minLength": 200},
                },
            }
        },
    },
]
SCHEMAS = st.one_of(
    st.sampled_from(HOSTILE_SCHEMAS),
    st.recursive(SCHEMA_LEAVES, _schema_nodes, max_leaves=8),
)


@given(dialect=DIALECTS, parameters=SCHEMAS)
def test_a_forced_tool_with_any_schema_gets_bounded_arguments_or_a_clear_error(
    fuzz: Fuzz, dialect: str, parameters: Any
) -> None:
    link = fuzz.tools[dialect]
    tool = {"type": "function", "name": "f", "parameters": parameters}
    if dialect == "ga":
        session = {
            "type": "realtime",
            "output_modalities": ["text"],
            "tools": [tool],
            "tool_choice": {"type": "function", "name": "f"},
        }
    else:
        session = {"modalities": ["text"], "tools": [tool], "tool_choice": "f"}
    update = {"type": "session.update", "event_id": "evt_schema", "session": session}
    events = link.exchange(dump(update))
    assert_answered_plainly(events, "evt_schema")
    if errors_in(events):
        return  # refused as a configuration: nothing to call
    events = link.exchange(dump({"type": "response.create", "event_id": "evt_call"}))
    assert_answered_plainly(events, "evt_call")
    for event in events:
        if event["type"] == "response.function_call_arguments.done":
            assert len(event["arguments"]) <= MAX_ARGUMENTS, len(event["arguments"])
            json.loads(event["arguments"], parse_constant=_refuse_constant)
    types = [e["type"] for e in events]
    assert "response.done" in types or errors_in(events), types
