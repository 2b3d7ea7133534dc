"""The transcript's holding of bulk payloads: the limit, the placeholder, the note."""

from __future__ import annotations

import json

from mock_server.transcript import PAYLOAD_ELIDED, Transcript, elided


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
