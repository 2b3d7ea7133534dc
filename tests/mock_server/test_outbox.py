"""The outbox, the one exit for server events: ids, the dialect's names, the transcript, the
injected checks; on its own (as the relay uses it) and inside every session."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest

from mock_server import conformance
from mock_server.ids import IdFactory
from mock_server.protocol.encoding import encoder_for
from mock_server.protocol.events import Dialect
from mock_server.session import Close, Outbox, RawFrame, ServerEvent, Session, SessionOptions
from mock_server.transcript import Transcript
from tests.helpers import USER_HELLO, SessionDriver, types

ROOT = Path(__file__).resolve().parents[2]


def _outbox(dialect: Dialect, checks: Any = ()) -> tuple[Outbox, Transcript]:
    transcript = Transcript()
    clock = iter([0.5, 1.0, 1.5, 2.0])
    return Outbox(encoder_for(dialect), IdFactory(3), transcript, lambda: next(clock), checks), (
        transcript
    )


@pytest.mark.parametrize(
    ("dialect", "name"),
    [(Dialect.GA, "response.output_audio.delta"), (Dialect.BETA, "response.audio.delta")],
)
def test_an_event_is_stamped_named_for_the_dialect_recorded_and_queued(
    dialect: Dialect, name: str
) -> None:
    box, transcript = _outbox(dialect)
    sent = box.emit({"type": "response.output_audio.delta", "delta": "AAAA"})
    assert sent["type"] == name and re.fullmatch(r"event_\w+", sent["event_id"])
    assert list(sent) == ["event_id", "type", "delta"]
    (output,) = box.take()
    assert isinstance(output, ServerEvent) and output.event is sent
    assert json.loads(output.text) == sent
    (entry,) = transcript.entries
    assert (entry.t, entry.direction, entry.type, entry.event) == (0.5, "server", name, sent)
    assert box.take() == []


def test_the_transcript_copy_can_keep_a_payload_as_its_size() -> None:
    box, transcript = _outbox(Dialect.GA)
    sent = box.emit(
        {"type": "response.output_audio.delta", "delta": "AAAA"}, recorded={"delta": "<4>"}
    )
    assert sent["delta"] == "AAAA" and transcript.entries[0].event["delta"] == "<4>"


def test_ids_are_fresh_and_deterministic_under_a_seed() -> None:
    def ids() -> list[str]:
        box, _ = _outbox(Dialect.GA)
        return [box.emit({"type": "input_audio_buffer.cleared"})["event_id"] for _ in range(3)]

    first = ids()
    assert len(set(first)) == 3 and ids() == first


def test_an_injected_check_sees_every_event_as_sent_with_the_dialect() -> None:
    seen: list[tuple[str, Dialect]] = []
    box, _ = _outbox(Dialect.BETA, [lambda event, dialect: seen.append((event["type"], dialect))])
    box.emit({"type": "response.output_text.done", "text": "hi"})
    box.emit_given({"type": "error", "event_id": "mine", "error": {}})
    assert seen == [("response.text.done", Dialect.BETA), ("error", Dialect.BETA)]


def test_a_given_event_id_is_kept_and_the_next_ids_do_not_depend_on_it() -> None:
    box, _ = _outbox(Dialect.GA)
    given = box.emit_given({"type": "input_audio_buffer.cleared", "event_id": "evt_mine"})
    after = box.emit({"type": "input_audio_buffer.cleared"})["event_id"]
    other, _ = _outbox(Dialect.GA)
    other.emit_given({"type": "input_audio_buffer.cleared"})
    assert given["event_id"] == "evt_mine"
    assert json.loads(box.take()[0].text)["event_id"] == "evt_mine"  # type: ignore[union-attr]
    assert other.emit({"type": "input_audio_buffer.cleared"})["event_id"] == after


def test_a_sibling_reuses_the_fields_under_its_own_id_and_name() -> None:
    box, _ = _outbox(Dialect.GA)
    added = box.emit({"type": "conversation.item.added", "item": {"id": "item_1"}})
    done = box.emit_sibling(added, "conversation.item.done")
    texts = [json.loads(o.text) for o in box.take() if isinstance(o, ServerEvent)]
    assert texts == [added, done] and done["event_id"] != added["event_id"]
    assert done["item"] == added["item"]


def test_closes_and_raw_frames_queue_behind_the_events_before_them() -> None:
    box, transcript = _outbox(Dialect.GA)
    box.emit({"type": "input_audio_buffer.cleared"})
    box.raw(b"\x00\x01")
    box.end(Close(1000, "bye"))
    assert len(box) == 3
    assert [type(o) for o in box.take()] == [ServerEvent, RawFrame, Close]
    assert transcript.entries[-1].raw == "<2 bytes>"


def test_a_session_takes_its_checks_from_its_options_or_the_defaults() -> None:
    seen: list[str] = []
    session = Session(SessionOptions(pace=0, outbound_checks=[lambda e, d: seen.append(e["type"])]))
    session.open(0.0)
    assert seen == ["session.created"]
    # Named none: the process's defaults, which the suite's conftest installs the SDK check in.
    assert conformance.check in conformance.default_checks()
    assert SessionDriver().session.outbox.checks == conformance.default_checks()


def test_every_session_event_goes_through_the_checks(monkeypatch: pytest.MonkeyPatch) -> None:
    seen: list[str] = []
    monkeypatch.setattr(conformance, "_defaults", [lambda e, d: seen.append(e["type"])])
    d = SessionDriver()
    sent = d.opening + d.send({"type": "conversation.item.create", "item": USER_HELLO})
    sent += d.send({"type": "response.create"})
    assert seen == types(sent) and "response.done" in seen


def test_the_session_package_does_not_name_the_dialect() -> None:
    """The session gets an encoder and never asks which dialect it speaks; only its options
    carry the type (a field users set)."""
    package = ROOT / "mock_server" / "session"
    naming = [
        f"{path.name}:{n}"
        for path in sorted(package.glob("*.py"))
        if path.name != "options.py"
        for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1)
        if "Dialect" in line
    ]
    assert naming == []
    assert "Dialect." not in (package / "options.py").read_text(encoding="utf-8")
