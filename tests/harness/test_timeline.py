"""The timeline as a person reads it: legend, folding, the fields that matter, the width."""

from __future__ import annotations

import base64
import json

from harness.timeline import LEGEND, render_timeline
from mock_server.transcript import Transcript


def _call_done(arguments: dict[str, str]) -> dict[str, object]:
    return {
        "type": "response.done",
        "response": {
            "status": "completed",
            "output": [
                {
                    "type": "function_call",
                    "name": "get_weather",
                    "call_id": "call_abc123",
                    "arguments": json.dumps(arguments),
                }
            ],
        },
    }


def test_the_legend_comes_first_and_no_connection_is_said() -> None:
    out = render_timeline([])
    assert out.splitlines()[0] == LEGEND
    assert "(no connection was made)" in out


def test_appends_fold_with_their_duration_and_notes_follow_the_fold() -> None:
    t = Transcript()
    chunk = base64.b64encode(bytes(960)).decode()  # 20 ms of 24 kHz PCM16
    for n in range(60):
        t.add(
            n * 0.02,
            "client",
            "input_audio_buffer.append",
            event={"type": "input_audio_buffer.append", "audio": chunk},
        )
        if n == 0:
            t.add(0.0, "note", "silent_audio", note="a silent turn")
    t.add(1.3, "client", "input_audio_buffer.commit", event={"type": "input_audio_buffer.commit"})
    lines = render_timeline([t], width=100, legend=False).splitlines()
    assert lines[1].endswith("-> input_audio_buffer.append <audio 1.2 s in 60 appends>")
    assert lines[2].endswith("!! silent_audio a silent turn")
    assert lines[3].endswith("-> input_audio_buffer.commit")


def test_g711_appends_count_eight_thousand_bytes_a_second() -> None:
    t = Transcript()
    t.add(
        0,
        "client",
        "session.update",
        event={
            "type": "session.update",
            "session": {"audio": {"input": {"format": {"type": "audio/pcmu"}}}},
        },
    )
    t.add(
        0.1,
        "client",
        "input_audio_buffer.append",
        event={
            "type": "input_audio_buffer.append",
            "audio": base64.b64encode(bytes(8000)).decode(),
        },
    )
    assert "<audio 1.0 s>" in render_timeline([t], width=100)


def test_function_call_fields_are_never_cut_however_narrow() -> None:
    t = Transcript()
    arguments = {"city": "Paris", "unit": "celsius", "when": "tomorrow afternoon"}
    t.add(0.5, "server", "response.done", event=_call_done(arguments))
    t.add(
        0.6,
        "client",
        "conversation.item.create",
        event={
            "type": "conversation.item.create",
            "item": {"type": "function_call_output", "call_id": "call_abc123", "output": "{}"},
        },
    )
    out = render_timeline([t], width=40)
    assert "function_call get_weather call_id=call_abc123 args=" + json.dumps(arguments) in out
    assert "function_call_output call_id=call_abc123" in out


def test_other_fields_are_shortened_to_the_width() -> None:
    t = Transcript()
    t.add(
        0.1,
        "client",
        "conversation.item.truncate",
        event={
            "type": "conversation.item.truncate",
            "item_id": "item_" + "x" * 200,
            "content_index": 0,
            "audio_end_ms": 1500,
        },
    )
    for line in render_timeline([t], width=80).splitlines()[1:]:
        assert len(line) <= 80, line
    assert "..." in render_timeline([t], width=80)


def test_text_deltas_fold_into_their_text() -> None:
    t = Transcript()
    for n, word in enumerate(["It ", "is ", "sunny."]):
        t.add(
            n / 10,
            "server",
            "response.output_text.delta",
            event={"type": "response.output_text.delta", "delta": word},
        )
    assert '<- response.output_text.delta "It is sunny." (3 deltas)' in render_timeline([t])
