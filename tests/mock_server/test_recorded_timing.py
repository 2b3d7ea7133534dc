"""Recordings keep their events' times, and ``pace: recorded`` replays them.

A session with a known timing plays the "live service": its transcript becomes a scenario (as
``realtime-mock record`` makes one), whose respond steps carry the timing measured from the
recorded events. Replayed with ``pace: recorded`` on the session's clock, the events come at
the recorded times; with ``pace: fast``, at once. Sans-I/O: nothing waits on the machine.
"""

from __future__ import annotations

import base64
from pathlib import Path
from typing import Any

import pytest
import yaml

from mock_server.record import scenario_from_transcript
from mock_server.record.responses import recorded_timing
from mock_server.scenario.loader import load_scenario
from mock_server.scenario.runner import ScenarioRunner
from mock_server.session import ServerEvent, Session, SessionOptions
from mock_server.timing import Timing

STEP = 0.005
LIVE = Timing(
    first_event_s=0.3,
    first_delta_s=0.2,
    audio_rate=2.0,
    text_rate=10.0,
    jitter=0.0,
    transcription="after_first_delta",
)
HELLO = {
    "type": "conversation.item.create",
    "item": {
        "type": "message",
        "role": "user",
        "content": [{"type": "input_text", "text": "tell me about the weather in Paris"}],
    },
}


def _play(session: Session, client: list[dict[str, Any]]) -> list[tuple[float, dict[str, Any]]]:
    """Send ``client``'s events at t=0 (the last one a response.create); the server events
    with their times until the response is done."""
    import json

    session.open(0.0)
    out: list[tuple[float, dict[str, Any]]] = []
    for event in client:
        session.receive(json.dumps(event), 0.0)
    now = 0.0
    while now < 30:
        batch = [o.event for o in session.due(now) if isinstance(o, ServerEvent)]
        out += [(round(now, 6), e) for e in batch]
        if any(e["type"] == "response.done" for e in batch):
            return out
        now += STEP
    raise AssertionError("no response.done")


def _at(events: list[tuple[float, dict[str, Any]]], type_: str) -> float:
    return next(t for t, e in events if e["type"] == type_)


def _record(tmp_path: Path, modality: str) -> tuple[Path, list[tuple[float, dict[str, Any]]]]:
    live = Session(SessionOptions(pace=1.0, seed=3, timing=LIVE))
    update = {"type": "session.update", "session": {"type": "realtime"}}
    update["session"]["output_modalities"] = [modality]  # type: ignore[index]
    played = _play(live, [update, HELLO, {"type": "response.create"}])
    recording = scenario_from_transcript(live.transcript, name="rec")
    path = tmp_path / "rec.yaml"
    recording.write(path)
    return path, played


@pytest.mark.parametrize("modality", ["audio", "text"])
def test_a_recording_keeps_each_responses_timing(tmp_path: Path, modality: str) -> None:
    path, _ = _record(tmp_path, modality)
    steps = yaml.safe_load(path.read_text())["steps"]
    recorded = next(s["respond"]["recorded"] for s in steps if "respond" in s)
    assert recorded["first_event"] == pytest.approx(0.3, abs=STEP)
    assert recorded["first_delta"] == pytest.approx(0.2, abs=STEP)
    rate = "audio_rate" if modality == "audio" else "text_rate"
    assert recorded[rate] == pytest.approx(getattr(LIVE, rate), rel=0.05)


@pytest.mark.parametrize("modality", ["audio", "text"])
def test_pace_recorded_replays_the_recorded_times(tmp_path: Path, modality: str) -> None:
    path, played = _record(tmp_path, modality)
    data = yaml.safe_load(path.read_text())
    for pace in ("recorded", "fast"):
        data["pace"] = pace
        path.write_text(yaml.safe_dump(data))
        loaded = load_scenario(path)
        replay = Session(
            SessionOptions(pace=1.0 if pace == "recorded" else 0.0, seed=3),
            script=ScenarioRunner(loaded, loaded.scenario.steps),
        )
        again = _play(
            replay,
            [
                {"type": "session.update", "session": data["steps"][0]["expect"]["session"]},
                HELLO,
                {"type": "response.create"},
            ],
        )
        if pace == "fast":
            assert {t for t, _ in again} == {0.0}
            continue
        for kind in ("response.created", "response.output_item.added", "response.done"):
            assert _at(again, kind) == pytest.approx(_at(played, kind), abs=4 * STEP), kind


def test_the_transcriptions_place_is_measured() -> None:
    created = {"type": "response.created", "response": {}}
    delta = {"type": "response.output_text.delta", "delta": "Hi"}
    done = {"type": "response.done"}
    timed = [(1.0, created), (1.2, delta), (1.3, done)]
    places = [recorded_timing(timed, 0.9, at).get("transcription") for at in (0.95, 1.1, 1.25, 2)]
    assert places == ["before_response", "after_created", "after_first_delta", "after_done"]


def test_audio_rate_is_measured_in_the_recorded_format() -> None:
    chunk = base64.b64encode(bytes(800)).decode()  # 100 ms of G.711 (8 bytes a millisecond)
    created = {
        "type": "response.created",
        "response": {"audio": {"output": {"format": {"type": "audio/pcmu"}}}},
    }
    timed: list[tuple[float, dict[str, Any]]] = [(0.0, created)]
    timed += [
        (0.05 * n, {"type": "response.output_audio.delta", "delta": chunk}) for n in range(1, 6)
    ]
    assert recorded_timing(timed, 0.0, None)["audio_rate"] == pytest.approx(2.0)
