"""Server VAD turns in a session: the committed audio spans [audio_start_ms, audio_end_ms].

The openai SDK documents ``speech_started.audio_start_ms`` as the beginning of the audio sent to
the model (the prefix padding included) and ``speech_stopped.audio_end_ms`` as its end (the
silence duration included); the mock commits exactly that span, however the audio is chunked.
"""

from __future__ import annotations

import base64
import itertools
from typing import Any

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from tests.helpers import SessionDriver

PAUSED = bytes(48 * 700) + b"".join(
    [
        (np.sin(np.arange(24 * ms) * 2 * np.pi * 150 / 24000) * 8000).astype("<i2").tobytes()
        + bytes(48 * gap)
        for ms, gap in ((600, 900), (400, 250), (500, 1200))
    ]
)


def _append(data: bytes) -> dict[str, Any]:
    return {"type": "input_audio_buffer.append", "audio": base64.b64encode(data).decode()}


def _turns(chunks: list[bytes], **turn: Any) -> tuple[SessionDriver, list[dict[str, Any]]]:
    d = SessionDriver()
    d.session_update(
        audio={
            "input": {"turn_detection": {"type": "server_vad", "create_response": False, **turn}}
        }
    )
    events: list[dict[str, Any]] = []
    for chunk in chunks:
        events += d.send(_append(chunk))
    return d, events


def _spans(d: SessionDriver, events: list[dict[str, Any]]) -> list[tuple[int, int, int]]:
    """(audio_start_ms, audio_end_ms, committed ms) of each turn."""
    starts = [e for e in events if e["type"] == "input_audio_buffer.speech_started"]
    stops = [e for e in events if e["type"] == "input_audio_buffer.speech_stopped"]
    assert [e["item_id"] for e in starts] == [e["item_id"] for e in stops]
    return [
        (a["audio_start_ms"], b["audio_end_ms"], len(d.session.item_audio(b["item_id"])) // 48)
        for a, b in zip(starts, stops, strict=True)
    ]


def test_turns_follow_the_prefix_padding_and_the_silence_duration() -> None:
    # Speech at 700-1300, 2200-2600 and 2850-3350 ms; 300 ms of silence ends a turn.
    d, events = _turns([PAUSED], prefix_padding_ms=200, silence_duration_ms=300)
    assert _spans(d, events) == [(500, 1600, 1100), (2000, 3650, 1650)]


def test_several_turns_in_one_append_each_get_their_own_audio() -> None:
    d, events = _turns([PAUSED], prefix_padding_ms=100, silence_duration_ms=200)
    spans = _spans(d, events)
    assert [s[:2] for s in spans] == [(600, 1500), (2100, 2800), (2800, 3550)]
    assert all(end - start == ms for start, end, ms in spans)
    # Of the silence after the last turn, only the prefix padding a next turn may take is held.
    assert len(d.session.input_buffer) == 100 * 48


@settings(max_examples=40, deadline=None)
@given(
    st.lists(st.integers(1, len(PAUSED) - 1), max_size=12),
    st.sampled_from([0, 150, 300, 1000]),
    st.sampled_from([200, 500]),
)
def test_the_committed_audio_spans_the_offsets_however_it_is_chunked(
    cuts: list[int], padding: int, silence: int
) -> None:
    points = [0, *sorted(set(cuts)), len(PAUSED)]
    chunks = [PAUSED[a:b] for a, b in itertools.pairwise(points)]
    d, events = _turns(chunks, prefix_padding_ms=padding, silence_duration_ms=silence)
    spans = _spans(d, events)
    assert spans, "the speech was not detected"
    whole = _spans(*_turns([PAUSED], prefix_padding_ms=padding, silence_duration_ms=silence))
    assert spans == whole
    previous_end = 0
    for start, end, ms in spans:
        assert start >= previous_end and end - start == ms
        previous_end = end


def test_semantic_vad_pads_as_server_vad_with_the_silence_of_its_eagerness() -> None:
    # Speech at 700-1300, 2200-2600 and 2850-3350 ms; high eagerness ends a turn after 250 ms.
    d, events = _turns([PAUSED], type="semantic_vad", eagerness="high")
    assert _spans(d, events) == [(400, 1550, 1150), (1900, 2850, 950), (2850, 3600, 750)]
