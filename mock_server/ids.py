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
_A_BITS, _TWENTY_ONE, _THIRTY_EIGHT = np.uint64(0xFFFFFFE0), np.uint64(21), np.uint64(38)
_SCALE = len(_ALPHABET) / 2.0**53  # exact: 31 * 2**-52


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
        self._batch = ""  # the suffixes drawn and not yet used, one after the other
        self._next = 0  # where the next suffix starts in it

    def new(self, kind: IdKind) -> str:
        start = self._next
        if start == len(self._batch):
            self._batch, start = self._draw(_BATCH), 0
        self._next = start + _LENGTH
        return f"{kind}_{self._batch[start : start + _LENGTH]}"

    def _draw(self, count: int) -> str:
        """The next ``count`` suffixes, end to end, exactly as ``random.choices`` would make
        them.

        ``choices`` takes ``_ALPHABET[floor(random() * 62)]`` per character, and ``random()`` is
        ``(a * 2**26 + b) / 2**53`` with ``a`` and ``b`` the generator's next two 32-bit outputs
        shifted right by 5 and 6; ``getrandbits`` hands out the same outputs, first one lowest.
        Every step is exact (the 53-bit integer in float64) but the multiplication by 62, which
        is IEEE's in numpy as in C; dividing by 2**53 first is exact too, so ``value * (62 /
        2**53)`` (a constant exact in float64) rounds as ``random() * 62`` does.
        """
        size = 2 * _LENGTH * count
        raw = self._random.getrandbits(32 * size).to_bytes(4 * size, "little")
        # Each pair of outputs read as one 64-bit word, ``a`` its low half: ``a >> 5 << 26`` is
        # its low 32 bits with the 5 lowest cleared, moved up 21, and ``b >> 6`` its top 26.
        pairs = np.frombuffer(raw, dtype="<u8")
        value = (pairs & _A_BITS) << _TWENTY_ONE
        value |= pairs >> _THIRTY_EIGHT
        picks = _CHARACTERS[(value.astype(np.float64) * _SCALE).astype(np.intp)]
        return picks.tobytes().decode("ascii")
