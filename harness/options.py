"""Parsing of the values people type: paces and durations.

>>> parse_pace("x10")
0.1
>>> parse_duration("60m")
3600.0
"""

from __future__ import annotations

import re

_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(ms|s|m|h)?\s*$")
_UNITS = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0, None: 1.0}


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


def parse_duration(text: str) -> float:
    """Seconds in ``text``: ``500ms``, ``2s``, ``1.5``, ``60m``, ``1h``."""
    match = _DURATION.match(text)
    if not match:
        raise ValueError(f"invalid duration {text!r}: use a number with ms, s, m or h, e.g. 60m")
    return float(match.group(1)) * _UNITS[match.group(2)]
