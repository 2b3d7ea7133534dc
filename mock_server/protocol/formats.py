"""The audio formats the Realtime API speaks, in one place: names, rates, bytes per millisecond.

The GA dialect names formats by MIME type (``audio/pcm``, ``audio/pcmu``, ``audio/pcma``), the
beta dialect by ``pcm16``/``g711_ulaw``/``g711_alaw``; inside, the beta names are used.

>>> BYTES_PER_MS["pcm16"], FORMAT_ALIASES["audio/pcmu"]
(48, 'g711_ulaw')
"""

from __future__ import annotations

SAMPLE_RATE = 24000
"""PCM16's rate, both directions: mono, 16-bit little-endian, 24 kHz."""

G711_RATE = 8000

BYTES_PER_MS = {"pcm16": 48, "g711_ulaw": 8, "g711_alaw": 8}

FORMAT_ALIASES = {
    "pcm16": "pcm16",
    "audio/pcm": "pcm16",
    "g711_ulaw": "g711_ulaw",
    "audio/pcmu": "g711_ulaw",
    "g711_alaw": "g711_alaw",
    "audio/pcma": "g711_alaw",
}
