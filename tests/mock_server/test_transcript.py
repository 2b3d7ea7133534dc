"""The transcript's holding of bulk payloads: the limit, the placeholder, the note."""

from __future__ import annotations

import base64
import json
from typing import Any

import pytest

from mock_server import audio, resources
from mock_server.protocol.events import Dialect
from mock_server.transcript import PAYLOAD_ELIDED, Transcript, elided
from tests.helpers import SessionDriver


def test_payloads_are_held_up_to_the_limit_then_kept_as_their_size() -> None:
    transcript = Transcript(payload_limit=10)
    assert transcript.hold(0.0, "A" * 6) == "A" * 6
    assert transcript.hold(0.1, "B" * 4) == "B" * 4  # exactly at the limit
    assert transcript.hold(0.2, "C") == elided(1, "audio")
    assert transcript.hold(0.3, "D" * 8, "model audio") == elided(8, "model audio")
    notes = [e for e in transcript.entries if e.type == PAYLOAD_ELIDED]
    assert len(notes) == 1 and notes[0].t == 0.2 and "10 characters" in (notes[0].note or "")


def test_without_a_limit_everything_is_held() -> None:
    transcript = Transcript()  # a relay's: the recorder needs every payload
    payload = "A" * 100_000
    assert transcript.hold(0.0, payload) is payload
    assert transcript.entries == []


def test_the_json_record_says_what_happened_not_how_it_was_kept() -> None:
    transcript = Transcript(payload_limit=4)
    transcript.hold(0.0, "AAAAAAAA")
    record = json.loads(transcript.to_json())
    assert "payload_limit" not in record and "payload_held" not in record
    assert record["entries"][0]["type"] == PAYLOAD_ELIDED


def test_redaction_is_one_module() -> None:
    """The transcript, the recorder, the relay and `run` redact with the same functions."""
    import harness.run_report
    import mock_server.record.filters
    import mock_server.relay.relayed
    from mock_server import redaction, transcript

    handshake = transcript.Handshake.redacted(
        path="/v1/realtime",
        query={"api_key": "k", "model": "gpt-realtime"},
        headers=[("Authorization", "Bearer sk-test-SECRET1234")],
        subprotocols=["openai-insecure-api-key.sk-test-SECRET1234"],
        dialect="ga",
        model="gpt-realtime",
    )
    assert handshake.headers == redaction.redact_headers(
        [("Authorization", "Bearer sk-test-SECRET1234")]
    )
    assert handshake.query == redaction.redact_query({"api_key": "k", "model": "gpt-realtime"})
    assert mock_server.record.filters.redact_text is redaction.redact_text
    assert mock_server.relay.relayed.redact_text is redaction.redact_text
    assert harness.run_report.redact_text is redaction.redact_text
    secret = {"client_secret": {"value": "ek_abcdefgh1234"}, "note": "Bearer sk-test-SECRET1234"}
    assert mock_server.record.filters.redact(secret, []) == redaction.redact_value(secret)
    for name in ("redact_text", "redact_headers", "SECRET_WORDS", "is_secret_query"):
        assert not hasattr(transcript, name) or getattr(transcript, name) is getattr(
            redaction, name
        )


def _old_transcript_copy(event: dict[str, Any]) -> dict[str, Any]:
    """What the transcript kept of an append before its strings were shared: the event as
    sent, its audio replaced by its size."""
    return {**event, "audio": elided(len(event["audio"]), "audio")}


@pytest.mark.parametrize("dialect", [Dialect.GA, Dialect.BETA])
def test_an_append_is_serialised_as_it_was_sent_with_its_audio_as_its_size(
    dialect: Dialect,
) -> None:
    pcm = audio.load_wav(resources.AUDIO / "monologue.wav").tobytes()[:48000]  # 1 s
    chunks = [base64.b64encode(c).decode() for c in audio.chunk(pcm, 100)]
    appends: list[dict[str, Any]] = [
        {"type": "input_audio_buffer.append", "audio": chunks[0]},
        {"event_id": "evt_first", "type": "input_audio_buffer.append", "audio": chunks[1]},
        {"type": "input_audio_buffer.append", "audio": chunks[2], "event_id": "evt_after"},
        *({"type": "input_audio_buffer.append", "audio": c} for c in chunks[3:]),
        {"type": "input_audio_buffer.append", "audio": chunks[0][:8]},  # another size
        {"type": "input_audio_buffer.append", "audio": "not base64!"},  # refused, still noted
    ]
    d = SessionDriver(dialect)
    for event in appends:
        d.send(event)
    d.send({"type": "input_audio_buffer.commit"})
    record = json.loads(d.session.transcript.to_json())
    kept = [e for e in record["entries"] if e["type"] == "input_audio_buffer.append"]
    # Key order too: the serialised text is what it was.
    assert [json.dumps(e["event"]) for e in kept] == [
        json.dumps(_old_transcript_copy(event)) for event in appends
    ]
    assert d.session.transcript.to_json().count("<elided: 6400 base64 characters of audio>") == 10


def test_the_entries_of_a_stream_of_appends_share_their_strings() -> None:
    """Each append's entry holds only what is its own (its time, its event_id): its type, its
    keys and its size placeholder are one string each for the whole stream."""
    chunk = base64.b64encode(bytes(960)).decode()
    d = SessionDriver()
    for n in range(3):
        d.send(
            json.dumps({"event_id": f"e{n}", "type": "input_audio_buffer.append", "audio": chunk})
        )
    entries = [e for e in d.session.transcript.entries if e.type == "input_audio_buffer.append"]
    assert len(entries) == 3
    first, *others = entries
    assert first.event is not None
    for n, entry in enumerate(others, start=1):
        assert entry.event is not None and entry.event is not first.event
        assert entry.event["event_id"] == f"e{n}"
        assert entry.type is first.type and entry.event["type"] is first.event["type"]
        assert entry.event["audio"] is first.event["audio"]
        for key, first_key in zip(entry.event, first.event, strict=True):
            assert key is first_key


@pytest.mark.parametrize(
    "keys", [("type", "audio"), ("audio", "type")], ids=["type-first", "audio-first"]
)
def test_appends_are_kept_as_columns_and_read_back_as_sent(keys: tuple[str, ...]) -> None:
    """The usual append (no event_id, or a string one) is kept as columns, not as an entry
    with a dict of its own; read back, it is the event sent with its audio elided."""
    d = SessionDriver()
    sent = {"type": "input_audio_buffer.append"}
    for size in (960, 960, 480, 960):
        values = {
            "type": "input_audio_buffer.append",
            "audio": base64.b64encode(bytes(size)).decode(),
        }
        d.send(json.dumps({key: values[key] for key in keys}))
    entries = d.session.transcript.entries
    assert entries.columns() == 4
    events = [e.event for e in entries if e.type == sent["type"]]
    assert len(events) == 4
    assert all(e is not None and list(e) == list(keys) for e in events)
    assert events[0] == events[1] == events[3] == {**sent, "audio": elided(1280, "audio")}
    assert events[2] == {**sent, "audio": elided(640, "audio")}
    assert json.loads(d.session.transcript.to_json())["entries"][-1]["event"] == events[3]
