"""The values people type, parsed in one place: durations (``500ms``, ``2s``, ``60m``) and paces.

The scenario format, the command line and the pytest options all read them through here, so a
duration means the same thing, and is refused with the same words, wherever it is typed.

>>> parse_duration("250ms"), parse_duration(2), parse_duration("1m"), parse_duration("1h")
(0.25, 2.0, 60.0, 3600.0)
>>> parse_pace("x10"), parse_pace("realtime"), parse_pace("fast")
(0.1, 1.0, 0.0)
"""

from __future__ import annotations

import re
from typing import Any

DURATION_PATTERN = r"^\s*\d+(\.\d+)?\s*(ms|s|m|h)?\s*$"
_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(ms|s|m|h)?\s*$")
_UNITS = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0, None: 1.0}


def parse_duration(value: Any) -> float:
    """Seconds in ``500ms``, ``2s``, ``1.5``, ``60m``, ``1h`` (a bare number is seconds)."""
    if isinstance(value, bool):
        raise ValueError("a duration is a number of seconds or a string such as 500ms or 2s")
    if isinstance(value, int | float):
        if value < 0:
            raise ValueError("a duration cannot be negative")
        return float(value)
    if isinstance(value, str):
        match = _DURATION.match(value)
        if match:
            return float(match.group(1)) * _UNITS[match.group(2)]
    raise ValueError(f"invalid duration {value!r}: use a number with ms, s, m or h, e.g. 500ms")


def parse_pace(text: str) -> float:
    """The pace factor applied to real-time delays: ``realtime`` 1, ``fast`` 0, ``xN`` 1/N."""
    value = text.strip().lower()
    if value == "realtime":
        return 1.0
    if value == "fast":
        return 0.0
    match = re.fullmatch(r"x(\d+(?:\.\d+)?)", value)
    if match and float(match.group(1)) > 0:
        return 1.0 / float(match.group(1))
    raise ValueError(f"invalid pace {text!r}: use realtime, fast, or xN such as x10")
