"""The recorder: record through the proxy against an upstream mock, replay, compare.

The upstream is a second realtime-mock (its canned model answers); nothing leaves 127.0.0.1.
The round trip is a property over generated conversations (text, audio with manual commit or
server VAD, function calls, errors, input transcription): the client receives the same server
events from the replay as through the proxy, up to ids and timestamps, and the same audio.
"""

from __future__ import annotations

import asyncio
import base64
import json
import logging
import re
import threading
import time
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import InvalidStatus
from websockets.http11 import Request, Response

from mock_server import audio
from mock_server.protocol.http import openai_error
from mock_server.record import (
    BackgroundRecorder,
    Recorder,
    redact,
    scenario_from_transcript,
)
from mock_server.relay import Upstream
from mock_server.scenario.lint import lint_paths
from mock_server.scenario.loader import load_scenario
from mock_server.scenario.served import ServedScenario
from mock_server.server import MockServer, Mount
from mock_server.transcript import Transcript
from tests.helpers import WAIT, serving

FIXTURES = Path(__file__).resolve().parents[2] / "fixtures" / "audio"
QUESTION = audio.load_wav(FIXTURES / "question.wav").tobytes()
SILENCE = audio.load_wav(FIXTURES / "silence.wav").tobytes()
TOOL = {
    "type": "function",
    "name": "get_weather",
    "description": "Weather in a city",
    "parameters": {
        "type": "object",
        "properties": {"city": {"type": "string"}},
        "required": ["city"],
    },
}


# ---- a scripted client ------------------------------------------------------------------------


@dataclass
class Conversation:
    """What the client does: the session's settings, then its turns in order."""

    text_only: bool = True
    vad: bool = False
    transcribe: bool = False
    event_ids: bool = True
    beta: bool = False
    turns: list[tuple[str, str]] = field(default_factory=list)
    transcription_model: str = "whisper-1"


@dataclass
class Heard:
    """What the client received."""

    events: list[dict[str, Any]] = field(default_factory=list)
    close: tuple[int, str] | None = None


class Client:
    def __init__(self, ws: ClientConnection, conversation: Conversation) -> None:
        self.ws = ws
        self.conversation = conversation
        self.heard = Heard()
        self.count = 0

    async def send(self, event: dict[str, Any]) -> None:
        self.count += 1
        if self.conversation.event_ids:
            event = {"event_id": f"evt_{self.count}", **event}
        await self.ws.send(json.dumps(event))

    async def until(self, *types: str) -> dict[str, Any]:
        async def read() -> dict[str, Any]:
            while True:
                event = json.loads(await self.ws.recv())
                self.heard.events.append(event)
                if event["type"] in types:
                    return event

        return await asyncio.wait_for(read(), WAIT)

    async def stream(self, pcm: bytes) -> None:
        for piece in audio.chunk(pcm, 100):
            await self.send({"type": "input_audio_buffer.append", "audio": audio.encode_b64(piece)})

    async def play(self) -> Heard:
        c = self.conversation
        await self.until("session.created")
        turn_detection = {"type": "server_vad"} if c.vad else None
        transcription = {"model": c.transcription_model} if c.transcribe else None
        session: dict[str, Any] = {"tools": [TOOL]}
        if c.beta:
            session["modalities"] = ["text"] if c.text_only else ["text", "audio"]
            session["turn_detection"] = turn_detection
            session["input_audio_transcription"] = transcription
        else:
            session["type"] = "realtime"
            session["output_modalities"] = ["text"] if c.text_only else ["audio"]
            session["audio"] = {
                "input": {"turn_detection": turn_detection, "transcription": transcription}
            }
        await self.send({"type": "session.update", "session": session})
        await self.until("session.updated")
        for kind, words in c.turns:
            await getattr(self, f"turn_{kind}")(words)
        await self.ws.close()
        return self.heard

    async def turn_text(self, words: str) -> None:
        item = {
            "type": "message",
            "role": "user",
            "content": [{"type": "input_text", "text": words}],
        }
        await self.send({"type": "conversation.item.create", "item": item})
        await self.send({"type": "response.create"})
        await self.answer_calls(await self.until("response.done"))

    async def answer_calls(self, done: dict[str, Any]) -> None:
        """A correct client answers the calls the model makes on its own (the canned model
        calls ``get_weather`` when the user's words name it)."""
        calls = [o for o in done["response"]["output"] if o["type"] == "function_call"]
        if not calls:
            return
        for call in calls:
            output = {"type": "function_call_output", "call_id": call["call_id"], "output": "ok"}
            await self.send({"type": "conversation.item.create", "item": output})
        await self.send({"type": "response.create"})
        await self.until("response.done")

    async def turn_audio(self, words: str) -> None:
        if self.conversation.vad:
            await self.stream(QUESTION + SILENCE)
        else:
            await self.stream(QUESTION)
            await self.send({"type": "input_audio_buffer.commit"})
            await self.send({"type": "response.create"})
        await self.answer_calls(await self.until("response.done"))

    async def turn_function(self, words: str) -> None:
        await self.send({"type": "response.create", "response": {"tool_choice": "required"}})
        done = await self.until("response.done")
        call = done["response"]["output"][0]
        output = {"type": "function_call_output", "call_id": call["call_id"], "output": words}
        await self.send({"type": "conversation.item.create", "item": output})
        await self.send({"type": "response.create"})
        await self.until("response.done")

    async def turn_error(self, kind: str) -> None:
        if kind == "cancel":
            await self.send({"type": "response.cancel"})
        elif kind == "commit":
            await self.send({"type": "input_audio_buffer.commit"})
        else:
            await self.send({"type": "conversation.item.create", "item": {"type": "bogus"}})
        await self.until("error")


async def converse(url: str, conversation: Conversation, key: str = "sk-test") -> Heard:
    headers = {"Authorization": f"Bearer {key}"}
    if conversation.beta:
        headers["OpenAI-Beta"] = "realtime=v1"
    async with connect(f"{url}?model=gpt-realtime", additional_headers=headers) as ws:
        return await Client(ws, conversation).play()


# ---- recording and replaying ------------------------------------------------------------------


@pytest.fixture
async def upstream() -> AsyncIterator[MockServer]:
    async with serving(Mount(pace=0.0, seed="up")) as server:
        yield server


async def record(upstream: MockServer, out: Path, conversation: Conversation) -> Heard:
    recorder = Recorder(out, upstream=upstream.ws_url)
    mount = Mount(upstream=Upstream(url=upstream.ws_url, api_key=None, recorder=recorder))
    async with serving(mount) as proxy:
        heard = await converse(proxy.ws_url, conversation)
        await proxy.wait_for_sessions(0)
    assert recorder.written, "the recorder wrote nothing"
    return heard


async def replay(path: Path, conversation: Conversation) -> tuple[Heard, dict[str, Any]]:
    play = ServedScenario(load_scenario(path))
    async with serving(play.mount()) as server:
        heard = await converse(server.ws_url, conversation)
        await server.wait_for_sessions(0)
    return heard, play.verdict().to_dict()


ID = re.compile(r"^(sess|conv|item|resp|call|event|evt)_[A-Za-z0-9]+$")
VOLATILE = frozenset({"expires_at", "created_at"})


def normalise(events: list[dict[str, Any]]) -> tuple[list[Any], dict[str, bytes]]:
    """Events with ids numbered by first appearance, timestamps and audio deltas taken out;
    and the audio of each item, joined."""
    names: dict[str, str] = {}
    sound: dict[str, bytearray] = {}

    def walk(value: Any, key: str = "") -> Any:
        if isinstance(value, dict):
            return {k: walk(v, k) for k, v in value.items() if k not in VOLATILE}
        if isinstance(value, list):
            return [walk(v, key) for v in value]
        if isinstance(value, str) and ID.match(value):
            return names.setdefault(value, f"id{len(names)}")
        return value

    shown = []
    for event in events:
        if event["type"] in ("response.output_audio.delta", "response.audio.delta"):
            item = walk(event["item_id"])
            sound.setdefault(item, bytearray()).extend(base64.b64decode(event["delta"]))
            event = {**event, "delta": "<audio>"}
        shown.append(walk({k: v for k, v in event.items() if k != "event_id"}))
    return shown, {k: bytes(v) for k, v in sound.items()}


async def round_trip(upstream: MockServer, folder: Path, conversation: Conversation) -> None:
    out = folder / "recorded.yaml"
    live = await record(upstream, out, conversation)
    assert lint_paths([str(folder)]) == []
    replayed, verdict = await replay(out, conversation)
    live_events, live_audio = normalise(live.events)
    replay_events, replay_audio = normalise(replayed.events)
    assert [e["type"] for e in replay_events] == [e["type"] for e in live_events]
    assert replay_events == live_events
    assert replay_audio == live_audio
    assert verdict["ok"], verdict["findings"]


# ---- the property -----------------------------------------------------------------------------

turns = st.one_of(
    st.tuples(st.just("text"), st.sampled_from(["Hello", "What is the weather?", "Bye now"])),
    st.tuples(st.just("audio"), st.just("")),
    st.tuples(st.just("function"), st.sampled_from(['{"temp": 21}', "sunny"])),
    st.tuples(st.just("error"), st.sampled_from(["cancel", "commit", "item"])),
)
conversations = st.builds(
    Conversation,
    text_only=st.booleans(),
    vad=st.booleans(),
    transcribe=st.booleans(),
    event_ids=st.booleans(),
    beta=st.booleans(),
    turns=st.lists(turns, min_size=1, max_size=4),
)


@settings(
    # Each example is three servers and two conversations (~50 ms): the profile's count, but
    # at most 300 (the long profile's 2000 would pass the suite's 60 s timeout).
    max_examples=min(settings.default.max_examples, 300),
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(conversation=conversations)
async def test_a_recording_replays_the_same_events_and_audio(
    upstream: MockServer, tmp_path_factory: pytest.TempPathFactory, conversation: Conversation
) -> None:
    if conversation.vad:
        # Server VAD commits on its own: the empty-commit error turn is a manual-commit one.
        conversation.turns = [t for t in conversation.turns if t != ("error", "commit")] or [
            ("text", "Hello")
        ]
    await round_trip(upstream, tmp_path_factory.mktemp("rec"), conversation)


async def test_an_audio_session_with_vad_transcription_and_a_tool(
    upstream: MockServer, tmp_path: Path
) -> None:
    conversation = Conversation(
        text_only=False,
        vad=True,
        transcribe=True,
        turns=[("audio", ""), ("function", "sunny"), ("error", "cancel"), ("text", "Thanks")],
    )
    await round_trip(upstream, tmp_path, conversation)
    data = yaml.safe_load((tmp_path / "recorded.yaml").read_text())
    kinds = [next(iter(step)) for step in data["steps"]]
    assert "respond" in kinds and "send" in kinds  # the refused cancel is repeated as sent
    assert data["transcriptions"] == [{"text": "What's the weather in Paris?"}]
    wavs = sorted(p.name for p in tmp_path.glob("*.wav"))
    assert any(".user-" in n for n in wavs) and any(".model-" in n for n in wavs)


async def test_a_diarised_transcription_is_recorded_by_speaker(
    upstream: MockServer, tmp_path: Path
) -> None:
    conversation = Conversation(
        transcribe=True,
        transcription_model="gpt-4o-transcribe-diarize",
        turns=[("audio", ""), ("text", "Thanks")],
    )
    await round_trip(upstream, tmp_path, conversation)
    data = yaml.safe_load((tmp_path / "recorded.yaml").read_text())
    said = {"speaker": "A", "text": "What's the weather in Paris?"}
    assert data["transcriptions"] == [{"segments": [said]}]
    assert "conversation.item.input_audio_transcription.segment" not in str(data["steps"])


# ---- redaction --------------------------------------------------------------------------------


def test_filters_remove_keys_by_value_by_shape_and_by_field_name() -> None:
    data = {
        "text": "my key is sk-test-SECRET123, ok",
        "session": {"client_secret": {"value": "ek_abc", "expires_at": 1}},
        "note": "skateboarding is fine",
        "custom": "hunter2 here",
    }
    clean = redact(data, ["hunter2"])
    assert "SECRET123" not in json.dumps(clean)
    assert clean["session"]["client_secret"] == {"value": "<redacted>", "expires_at": 1}
    assert clean["note"] == "skateboarding is fine"
    assert clean["custom"] == "<redacted> here"


def test_a_transcript_with_a_raw_response_keeps_every_event() -> None:
    transcript = Transcript()
    transcript.add(0.0, "client", "response.create", event={"type": "response.create"})
    odd = {"type": "response.created", "response": {"id": "resp_1", "status": "in_progress"}}
    transcript.add(0.1, "server", "response.created", event=odd)
    transcript.add(0.2, "server", "response.banana", event={"type": "response.banana"})
    recording = scenario_from_transcript(transcript, name="odd")
    steps = recording.data["steps"]
    assert steps[0] == {"expect": {"type": "response.create", "instead": True}}
    assert [s["send"]["type"] for s in steps[1:]] == ["response.created", "response.banana"]


# ---- no secret survives -----------------------------------------------------------------------

SECRET = "sk-test-SECRET123"


async def test_no_key_reaches_a_written_file(upstream: MockServer, tmp_path: Path) -> None:
    recorder = Recorder(tmp_path / "secret.yaml", upstream=upstream.ws_url)
    mount = Mount(upstream=Upstream(url=upstream.ws_url, api_key=SECRET, recorder=recorder))
    headers = {"Authorization": f"Bearer {SECRET}", "api-key": SECRET}
    subprotocols = ["realtime", f"openai-insecure-api-key.{SECRET}"]
    ephemeral = "ek_SECRET123ephemeral"
    async with serving(mount) as proxy:
        url = f"{proxy.ws_url}?model=gpt-realtime&api_key={SECRET}"
        async with connect(
            url,
            additional_headers=headers,
            subprotocols=subprotocols,  # type: ignore[arg-type]
        ) as ws:
            client = Client(ws, Conversation())
            await client.until("session.created")
            session = {
                "type": "realtime",
                "output_modalities": ["text"],
                "instructions": f"The key is {SECRET}; the secret {ephemeral}.",
                "client_secret": {"value": ephemeral, "expires_at": 0},
            }
            await client.send({"type": "session.update", "session": session})
            await client.until("error", "session.updated")
            await client.turn_text(f"Please repeat {SECRET} and {ephemeral}")
        await proxy.wait_for_sessions(0)
    written = sorted(tmp_path.iterdir())
    assert any(p.suffix == ".yaml" for p in written)
    for path in written:
        content = path.read_bytes()
        assert b"SECRET123" not in content, f"{path.name} holds the key"
    assert lint_paths([str(tmp_path)]) == []


async def test_braces_in_recorded_text_replay_as_text(upstream: MockServer, tmp_path: Path) -> None:
    conversation = Conversation(turns=[("text", "Fill {{ name }} in, {{ please")])
    await round_trip(upstream, tmp_path, conversation)


async def test_a_refused_attempt_is_kept_and_replayed(tmp_path: Path) -> None:
    def busy_once(attempt: int, request: Request) -> Response | None:
        if attempt > 1:
            return None
        return openai_error(
            429, "Slow down.", code="rate_limit_exceeded", headers=[("retry-after", "0")]
        )

    async def attempts(url: str) -> tuple[int, Heard]:
        with pytest.raises(InvalidStatus) as refused:
            await converse(url, Conversation())
        return refused.value.response.status_code, await converse(
            url, Conversation(turns=[("text", "Hello")])
        )

    out = tmp_path / "busy.yaml"
    recorder = Recorder(out)
    async with serving(Mount(pace=0.0, handshake_policy=busy_once)) as up:
        relay = Mount(upstream=Upstream(url=up.ws_url, api_key=None, recorder=recorder))
        async with serving(relay) as proxy:
            status, live = await attempts(proxy.ws_url)
            await proxy.wait_for_sessions(0)
    assert status == 429
    data = yaml.safe_load(out.read_text())
    assert data["connections"][0] == {
        "status": 429,
        "message": "Slow down.",
        "code": "rate_limit_exceeded",
        "type": "invalid_request_error",
        "retry_after": 0.0,
    }
    play = ServedScenario(load_scenario(out))
    async with serving(play.mount()) as server:
        status, replayed = await attempts(server.ws_url)
        await server.wait_for_sessions(0)
    assert status == 429
    assert normalise(replayed.events) == normalise(live.events)
    assert play.verdict().ok, str(play.verdict())


# ---- off the loop (issue 13: a long recording must not stall the other connections) ----------


class _GatedRecorder(Recorder):
    """A Recorder whose first recording waits for the test (a long session's, in effect)."""

    def __init__(self, out: Path) -> None:
        super().__init__(out)
        self.gate = threading.Event()
        self.seen: list[int] = []

    def add(self, transcript: Transcript, secrets: Sequence[str]) -> None:
        assert self.gate.wait(10), "the test never opened the gate"
        self.seen.append(len(transcript.entries))
        if len(transcript.entries) == 2:
            raise RuntimeError("a recording that fails")


def test_the_background_recorder_hands_over_at_once_and_flush_waits_for_all(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    gated = _GatedRecorder(tmp_path / "chat.yaml")
    recorder = BackgroundRecorder(gated)
    transcripts = []
    for n in (1, 2, 3):
        transcript = Transcript()
        for i in range(n):
            transcript.add(float(i), "note", "x", note="entry")
        transcripts.append(transcript)
    started = time.monotonic()
    for transcript in transcripts:
        recorder.add(transcript, ["sk-test"])
    assert time.monotonic() - started < 0.5  # nothing waited for the (gated) recorder
    transcripts[0].add(9.0, "note", "late", note="after the hand-over")  # a snapshot was taken
    gated.gate.set()
    with caplog.at_level(logging.ERROR, logger="realtime_mock"):
        recorder.flush()
    assert gated.seen == [1, 2, 3]  # in order; the failing one did not stop the next
    assert "could not record a connection" in caplog.text


# ---- record modes, without a server (mock_server/record/modes.py) ---------------------------


@pytest.mark.parametrize(
    ("mode", "recorded", "relays_now", "records", "first", "replays"),
    [
        ("once", 0, True, True, 1, True),
        ("once", 2, False, False, 3, True),
        ("new_episodes", 0, True, True, 1, True),
        ("new_episodes", 2, False, True, 3, True),
        ("all", 0, True, True, 1, False),
        ("all", 2, True, True, 1, False),
        ("none", 2, False, False, 3, True),
    ],
)
def test_each_record_mode_replays_and_records_as_vcr_says(
    tmp_path: Path,
    mode: str,
    recorded: int,
    relays_now: bool,
    records: bool,
    first: int,
    replays: bool,
) -> None:
    from mock_server.record import episode_path, plan

    out = tmp_path / "chat.yaml"
    for number in range(1, recorded + 1):
        episode_path(out, number).write_text("# recorded\n")
    decided = plan(out, mode)
    assert len(decided.existing) == recorded
    assert (decided.relays_now, decided.records) == (relays_now, records)
    assert (decided.first_episode, decided.replays) == (first, replays)


def test_mode_none_with_nothing_recorded_says_how_to_record(tmp_path: Path) -> None:
    from mock_server.record import NothingRecorded, plan

    with pytest.raises(NothingRecorded, match="--mode none only replays; record first"):
        plan(tmp_path / "chat.yaml", "none")
    with pytest.raises(ValueError, match="'sometimes' is not a valid RecordMode"):
        plan(tmp_path / "chat.yaml", "sometimes")
