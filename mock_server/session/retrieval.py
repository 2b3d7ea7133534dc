"""``conversation.item.retrieved``: an item as the server sends it back, with its audio.

An item's audio can be minutes of PCM16: it is encoded once, as base64, straight into the
frame's text (base64 needs no JSON escaping), and the transcript keeps its size instead (the
session holds the audio itself).
"""

from __future__ import annotations

import binascii
from typing import Any

from mock_server.ids import IdFactory
from mock_server.protocol.encoding import Encoder
from mock_server.protocol.frames import WIRE_JSON, wire_json
from mock_server.transcript import elided

_AUDIO_PART_TYPES = ("input_audio", "output_audio", "audio")


def retrieved(
    encoder: Encoder, ids: IdFactory, item: dict[str, Any], audio: bytearray | None
) -> tuple[dict[str, Any], str, dict[str, Any] | None]:
    """The ``conversation.item.retrieved`` event of ``item`` holding ``audio``, for
    :meth:`~mock_server.session.outbox.Outbox.queue`: the event, its text, and the
    transcript's copy (None: the event itself, when there is no audio to leave out)."""
    encoded = encoder.item(item, with_audio=True)
    content = encoded.get("content") or []
    audio_parts = [n for n, part in enumerate(content) if part.get("type") in _AUDIO_PART_TYPES]
    recorded = {
        "event_id": ids.new("event"),
        "type": encoder.event_name("conversation.item.retrieved"),
        "item": encoded,
    }
    if not audio or not audio_parts:
        return recorded, wire_json(recorded), None
    payload = binascii.b2a_base64(audio, newline=False).decode("ascii")
    placeholder = elided(len(payload), f"item {item['id']}'s audio")
    for n in audio_parts:
        content[n] = {**content[n], "audio": placeholder}
    sent_content = [
        {**part, "audio": payload} if n in audio_parts else part for n, part in enumerate(content)
    ]
    wire = {**recorded, "item": {**encoded, "content": sent_content}}
    text = WIRE_JSON.encode(recorded).replace(f'"{placeholder}"', f'"{payload}"')
    return wire, text, recorded
