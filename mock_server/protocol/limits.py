"""The live service's documented limits that more than one part of the mock applies.

>>> MAX_SESSION_DURATION_S / 60
60.0
"""

from __future__ import annotations

MAX_SESSION_DURATION_S = 60 * 60
"""A session's maximum duration: then ``session_expired`` and a close (the scenario's default)."""
