"""A transcript's entries read back as they were added, whatever is kept as columns (issue 15).

``EntryLog`` keeps the client's usual appends as columns instead of an entry each; everything
that reads a transcript (verdicts, reports, the recorder, the control API, files) reads it as a
sequence of entries. For any mix of entries and appends of any shape (ids or none, odd keys,
audio that is not a string, ids no UTF-8 can hold), every way of reading it must give what a
plain list of the entries the session used to keep gives: iteration, indexing from either end,
slices, ``len``, copies, pickles, findings and the JSON record.
"""

from __future__ import annotations

import json
import pickle
from dataclasses import asdict
from typing import Any

from hypothesis import given
from hypothesis import strategies as st

from mock_server.session.handlers import record_client, transcript_copy
from mock_server.transcript import Entry, EntryLog, Finding, Transcript

APPEND = "input_audio_buffer.append"


@st.composite
def _append(draw: st.DrawFn) -> dict[str, Any]:
    values: dict[str, Any] = {
        "type": APPEND,
        "audio": draw(st.one_of(st.text("AB=", max_size=8), st.integers(), st.none())),
        "event_id": draw(
            st.one_of(st.text(max_size=6), st.just("\ud800"), st.just("é😀"), st.integers())
        ),
        "extra": 1,
    }
    keys = draw(st.permutations(["type", "audio", "event_id", "extra"]))
    kept = [key for key in keys if key == "type" or draw(st.booleans())]
    if "extra" in kept and draw(st.booleans()):
        kept.remove("extra")
    return {key: values[key] for key in kept}


_OTHER = st.sampled_from(
    [
        Entry(0.5, "server", "session.created", {"type": "session.created"}),
        Entry(0.5, "note", "x", note="a note", finding=Finding("k", "m", 0.5)),
        Entry(0.5, "client", "<binary>", raw="<2 bytes>"),
    ]
)


@given(st.lists(st.one_of(_append(), _OTHER), max_size=25))
def test_the_log_reads_back_what_a_list_of_entries_holds(added: list[Any]) -> None:
    transcript, expected = Transcript(), []
    for n, item in enumerate(added):
        t = n / 10
        if isinstance(item, Entry):
            transcript.add(item.t, item.direction, item.type, event=item.event, raw=item.raw,
                           note=item.note, finding=item.finding)  # fmt: skip
            expected.append(item)
            continue
        record_client(transcript, t, item, APPEND)
        label, recorded = transcript_copy(item, APPEND)
        expected.append(Entry(t, "client", label, recorded))
    log = transcript.entries
    assert list(log) == expected and len(log) == len(expected)
    assert [_text(e) for e in log] == [_text(e) for e in expected]  # key order too
    assert [log[i] for i in range(len(log))] == expected
    assert [log[-i] for i in range(1, len(log) + 1)] == expected[::-1]
    assert log[1:-1:2] == expected[1:-1:2] and log == expected
    assert transcript.findings() == [e.finding for e in expected if e.finding is not None]
    copied, restored = log.copy(), pickle.loads(pickle.dumps(transcript))
    transcript.add(9.0, "note", "later", note="after the copy")
    assert list(copied) == expected and list(restored.entries) == expected
    as_list = Transcript(entries=EntryLog(expected))
    assert json.loads(Transcript(entries=copied).to_json()) == json.loads(as_list.to_json())


def _text(entry: Entry) -> str:
    return json.dumps(asdict(entry))


def test_only_the_usual_appends_are_columns() -> None:
    transcript = Transcript()
    for event in (
        {"type": APPEND, "audio": "AAAA"},
        {"audio": "AAAA", "event_id": "e1", "type": APPEND},
        {"type": APPEND, "audio": 4},  # not a string: kept as it came
        {"type": APPEND, "audio": "AAAA", "event_id": "\ud800"},  # no UTF-8 holds it
        {"type": APPEND, "audio": "AAAA", "extra": True},
    ):
        record_client(transcript, 0.0, event, APPEND)
    assert transcript.entries.columns() == 2 and len(transcript.entries) == 5
    assert transcript.entries[1].event == {
        "audio": "<elided: 4 base64 characters of audio>",
        "event_id": "e1",
        "type": APPEND,
    }
