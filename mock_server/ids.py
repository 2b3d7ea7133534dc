"""Identifiers with the live service's prefixes, deterministic under a seed.

The live API uses ids such as ``event_AGvaHyTGxxeq2s6GtXhVY``: a prefix, an underscore and 21
base62 characters. The mock draws them from a seeded generator so that the same scenario and the
same client input give the same ids, which keeps transcripts and recordings comparable.
"""

from __future__ import annotations

import random
import string
from typing import Literal

import numpy as np

IdKind = Literal["event", "sess", "conv", "item", "resp", "call", "ek"]

_ALPHABET = string.ascii_letters + string.digits
_LENGTH = 21
# Suffixes drawn at once: an id is made for every event sent, and drawing them one character at
# a time in Python was a visible share of the cost of an event.
_BATCH = 64
_CHARACTERS = np.frombuffer(_ALPHABET.encode("ascii"), dtype=np.uint8)


class IdFactory:
    """Makes ids like ``item_Cx9...``; one factory per connection.

    Each suffix is what ``random.choices(_ALPHABET, k=21)`` on the seeded generator would draw
    next (so ids stay as they were), drawn in batches.

    >>> ids = IdFactory(seed=1)
    >>> ids.new("item").startswith("item_")
    True
    >>> IdFactory(seed=1).new("resp") == IdFactory(seed=1).new("resp")
    True
    """

    def __init__(self, seed: int | str | None = None) -> None:
        self._random = random.Random(seed)
        self._suffixes: list[str] = []

    def new(self, kind: IdKind) -> str:
        if not self._suffixes:
            self._suffixes = self._draw(_BATCH)[::-1]
        return f"{kind}_{self._suffixes.pop()}"

    def _draw(self, count: int) -> list[str]:
        """The next ``count`` suffixes, exactly as ``random.choices`` would make them.

        ``choices`` takes ``_ALPHABET[floor(random() * 62)]`` per character, and ``random()`` is
        ``(a * 2**26 + b) / 2**53`` with ``a`` and ``b`` the generator's next two 32-bit outputs
        shifted right by 5 and 6; ``getrandbits`` hands out the same outputs, first one lowest.
        Every step is exact in float64 but the last multiplication, which is IEEE's in numpy
        as in C.
        """
        words = 2 * _LENGTH * count
        raw = self._random.getrandbits(32 * words).to_bytes(4 * words, "little")
        pairs = np.frombuffer(raw, dtype="<u4").reshape(-1, 2).astype(np.float64)
        floats = (np.floor(pairs[:, 0] / 32) * 67108864.0 + np.floor(pairs[:, 1] / 64)) / 2.0**53
        picks = _CHARACTERS[(floats * len(_ALPHABET)).astype(np.intp)]
        text = picks.tobytes().decode("ascii")
        return [text[i : i + _LENGTH] for i in range(0, len(text), _LENGTH)]
