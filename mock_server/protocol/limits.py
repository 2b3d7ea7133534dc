"""The live service's documented limits that more than one part of the mock applies.

>>> MAX_SESSION_DURATION_S / 60
60.0
"""

from __future__ import annotations

MAX_SESSION_DURATION_S = 60 * 60
"""A session's maximum duration: then ``session_expired`` and a close (the scenario's default)."""

IDLE_TIMEOUT_MS_RANGE = (5_000, 30_000)
"""The ``idle_timeout_ms`` a server VAD accepts (the API reference's schema; the SDK gives none)."""

KNOWN_INTENTS = frozenset({"transcription"})
"""The ``intent=`` values the service knows: any other, an empty one too, is ``invalid_intent``."""
