"""The model's timing (mock_server.timing): latency, audio and text rates, seeded jitter, where
the input transcription lands, and a scenario's and a respond's own timing.

The session is sans-I/O: these tests move its clock by hand and read the virtual time of each
event, so nothing here waits or measures the machine.
"""

from __future__ import annotations

import base64
import itertools
import json
from typing import Any

import numpy as np
import pytest

from mock_server.protocol.formats import BYTES_PER_MS
from mock_server.scenario.loader import ScenarioError, load_scenario_text
from mock_server.scenario.runner import ScenarioRunner
from mock_server.session import Session, SessionOptions
from mock_server.session.outputs import ServerEvent
from mock_server.timing import LIVE_LIKE, STEADY, Timing
from tests.helpers import USER_HELLO, SessionDriver, user_text

STEP = 0.005  # the clock moves in 5 ms steps


def timeline(
    d: SessionDriver, *, until: str = "response.done", limit_s: float = 60.0
) -> list[tuple[float, dict[str, Any]]]:
    """(virtual time, event) of everything the session sends until an ``until`` event."""
    out: list[tuple[float, dict[str, Any]]] = []
    start = d.now
    while d.now - start <= limit_s:
        batch = d.take()
        out += [(round(d.now, 6), event) for event in batch]
        if any(event["type"] == until for event in batch):
            return out
        d.now += STEP
    raise AssertionError(f"no {until} within {limit_s} s of virtual time")


def reply(d: SessionDriver, text: str = "hello") -> list[tuple[float, dict[str, Any]]]:
    d.send(user_text(text))
    d.session.receive('{"type": "response.create"}', d.now)
    return timeline(d)


def first(events: list[tuple[float, dict[str, Any]]], type_: str) -> float:
    return next(t for t, e in events if e["type"] == type_)


def audio_seconds(events: list[tuple[float, dict[str, Any]]]) -> float:
    size = sum(
        len(base64.b64decode(e["delta"]))
        for _, e in events
        if e["type"] == "response.output_audio.delta"
    )
    return size / BYTES_PER_MS["pcm16"] / 1000


def test_live_like_audio_comes_faster_than_real_time_after_a_latency() -> None:
    d = SessionDriver(pace=1.0)
    events = reply(d, "tell me something about the weather in Paris today")
    created, first_audio = (
        first(events, "response.created"),
        first(events, "response.output_audio.delta"),
    )
    done = first(events, "response.done")
    jitter = LIVE_LIKE.jitter
    assert created >= LIVE_LIKE.first_event_s * (1 - jitter) - STEP
    assert first_audio - created >= LIVE_LIKE.first_delta_s * (1 - jitter) - STEP
    played = audio_seconds(events)
    assert played > 1.0
    # All of the audio is sent in about a third of its duration: the client buffers it.
    streamed = done - first_audio
    assert played / LIVE_LIKE.audio_rate * (1 - jitter) - 0.1 <= streamed
    assert streamed <= played / LIVE_LIKE.audio_rate * (1 + jitter) + 0.1


def test_steady_timing_streams_audio_at_exactly_real_time() -> None:
    d = SessionDriver(pace=1.0, timing=STEADY)
    events = reply(d, "tell me something about the weather in Paris today")
    assert first(events, "response.created") == 0.0
    audio = [(t, e) for t, e in events if e["type"] == "response.output_audio.delta"]
    # Each chunk is followed by its duration: the last one goes when the others have played.
    assert abs(audio[-1][0] - audio_seconds(audio[:-1])) <= STEP


def test_transcript_deltas_are_spread_along_the_audio() -> None:
    d = SessionDriver(pace=1.0)
    events = reply(d, "one two three four five six seven eight nine ten")
    kinds = [
        e["type"]
        for _, e in events
        if e["type"] in ("response.output_audio.delta", "response.output_audio_transcript.delta")
    ]
    words = [i for i, k in enumerate(kinds) if k.endswith("transcript.delta")]
    audio = [i for i, k in enumerate(kinds) if k == "response.output_audio.delta"]
    assert len(words) > 5 and len(audio) > 5
    # Not all with the first chunk: the last word goes out in the second half of the audio.
    assert words[-1] > audio[len(audio) // 2]
    # And each word before the chunk where it is spoken, never after the audio's end.
    assert words[-1] < audio[-1]


def test_jitter_is_seeded() -> None:
    def times(seed: int) -> list[float]:
        d = SessionDriver(pace=1.0, seed=seed)
        return [t for t, _ in reply(d, "the same words every time")]

    assert times(3) == times(3)
    assert times(3) != times(4)


def test_pace_fast_sends_the_same_events_at_once() -> None:
    paced = [e["type"] for _, e in reply(SessionDriver(pace=1.0), "a few words here")]
    d = SessionDriver(pace=0.0)
    fast = reply(d, "a few words here")
    assert {t for t, _ in fast} == {0.0}
    assert [e["type"] for _, e in fast] == paced


def test_text_deltas_follow_the_text_rate() -> None:
    d = SessionDriver(pace=1.0, timing=LIVE_LIKE.merged({"jitter": 0.0, "text_rate": 2.0}))
    d.session_update(output_modalities=["text"])
    events = reply(d, "hello")
    deltas = [(t, e["delta"]) for t, e in events if e["type"] == "response.output_text.delta"]
    assert len(deltas) >= 3
    for (t0, word), (t1, _) in itertools.pairwise(deltas):
        # A word of n characters at 2x the pace of speech (15 characters a second).
        assert abs((t1 - t0) - len(word) / 15 / 2) <= STEP + 1e-9


def _append(pcm: bytes) -> dict[str, Any]:
    return {"type": "input_audio_buffer.append", "audio": base64.b64encode(pcm).decode()}


def _voice(ms: int) -> bytes:
    t = np.arange(ms * 24) / 24000
    return (np.sin(2 * np.pi * 150 * t) * 8000).astype("<i2").tobytes()


@pytest.mark.parametrize(
    ("place", "after", "before"),
    [
        ("before_response", None, "response.created"),
        ("after_created", "response.created", "response.output_item.added"),
        ("after_first_delta", "response.output_audio.delta", "response.done"),
        ("after_done", "response.done", None),
    ],
)
@pytest.mark.parametrize("pace", [0.0, 1.0])
def test_the_input_transcription_lands_where_the_timing_says(
    place: str, after: str | None, before: str | None, pace: float
) -> None:
    d = SessionDriver(pace=pace, timing=LIVE_LIKE.merged({"transcription": place}))
    d.session_update(audio={"input": {"transcription": {"model": "whisper-1"}}})
    speech = bytes(48 * 300) + _voice(800) + bytes(48 * 700)
    d.session.receive(json.dumps(_append(speech)), d.now)
    kinds = [e["type"] for _, e in timeline(d, until="response.done")]
    kinds += [e["type"] for e in d.advance(1.0)]
    done = kinds.index("conversation.item.input_audio_transcription.completed")
    assert kinds.index("input_audio_buffer.committed") < done
    if after is not None:
        assert kinds.index(after) < done
    if before is not None:
        assert done < kinds.index(before)


def test_a_transcription_no_response_claims_is_sent_when_its_first_delta_would_be() -> None:
    d = SessionDriver(pace=1.0)
    d.session_update(
        audio={
            "input": {
                "transcription": {"model": "whisper-1"},
                "turn_detection": {"type": "server_vad", "create_response": False},
            }
        }
    )
    speech = bytes(48 * 300) + _voice(800) + bytes(48 * 700)
    d.session.receive(json.dumps(_append(speech)), d.now)
    events = timeline(d, until="conversation.item.input_audio_transcription.completed")
    at = first(events, "conversation.item.input_audio_transcription.completed")
    assert at == pytest.approx(LIVE_LIKE.first_event_s + LIVE_LIKE.first_delta_s, abs=STEP)


def test_a_response_cancelled_in_its_latency_is_still_created_before_it_is_done() -> None:
    d = SessionDriver(pace=1.0)
    d.send({"type": "conversation.item.create", "item": USER_HELLO})
    assert d.send({"type": "response.create"}) == []  # the model's latency
    events = d.send({"type": "response.cancel"})
    assert [e["type"] for e in events][:3] == [
        "response.created",
        "rate_limits.updated",
        "response.done",
    ]
    assert events[-1]["response"]["status_details"]["reason"] == "client_cancelled"


HEAD = "name: t\ndescription: a test scenario\n"


def _scripted(text: str) -> Session:
    loaded = load_scenario_text(HEAD + text, "t.yaml")
    session = Session(
        SessionOptions(pace=1.0, seed=1, timing=loaded.scenario.timing.timing()),
        script=ScenarioRunner(loaded, loaded.scenario.steps),
    )
    session.open(0.0)
    return session


def _times(session: Session, until_done: int) -> list[tuple[float, str]]:
    out: list[tuple[float, str]] = []
    now = 0.0
    while now < 60 and sum(1 for _, k in out if k == "response.done") < until_done:
        for output in session.due(now):
            if isinstance(output, ServerEvent):
                out.append((round(now, 6), output.event["type"]))
        now += STEP
    return out


def test_a_scenario_and_a_respond_set_their_own_timing() -> None:
    session = _scripted(
        """
session: {output_modalities: [text]}
timing: {profile: steady, first_event: 200ms}
steps:
  - expect: response.create
  - respond: {text: "one"}
  - expect: response.create
  - respond: {text: "two", timing: {first_event: 1s, first_delta: 500ms}}
"""
    )
    session.receive('{"type": "response.create"}', 0.0)
    first_reply = _times(session, 1)
    assert first([(t, {"type": k}) for t, k in first_reply], "response.created") == pytest.approx(
        0.2, abs=STEP
    )
    start = first_reply[-1][0]
    session.receive('{"type": "response.create"}', start)
    second = [(t, {"type": k}) for t, k in _times(session, 1) if t >= start]
    created = first(second, "response.created")
    assert created - start == pytest.approx(1.0, abs=2 * STEP)
    assert first(second, "response.output_item.added") - created == pytest.approx(0.5, abs=2 * STEP)


@pytest.mark.parametrize(
    ("timing", "words"),
    [
        ("timing: fastest", "Input should be 'live' or 'steady'"),
        ("timing: {jitter: 1.5}", "less than 1"),
        ("timing: {audio_rate: 0}", "greater than 0"),
        ("timing: {first_event: soon}", "invalid duration"),
        ("timing: {transcription: later}", "after_created"),
        ("timing: {audio_speed: 2}", "audio_speed"),
        ("pace: x0", "invalid pace"),
    ],
)
def test_a_bad_timing_is_refused_with_its_line(timing: str, words: str) -> None:
    with pytest.raises(ScenarioError) as caught:
        load_scenario_text(HEAD + "steps: []\n" + timing + "\n", "t.yaml")
    message = str(caught.value)
    assert "t.yaml:4" in message and words in message, message


def test_timing_merges_and_keeps_the_rest() -> None:
    changed = Timing().merged({"audio_rate": 5.0, "jitter": None})
    assert changed.audio_rate == 5.0 and changed.jitter == LIVE_LIKE.jitter
