"""Identifiers with the live service's prefixes, deterministic under a seed.

The live API uses ids such as ``event_AGvaHyTGxxeq2s6GtXhVY``: a prefix, an underscore and 21
base62 characters. The mock draws them from a seeded generator so that the same scenario and the
same client input give the same ids, which keeps transcripts and recordings comparable.
"""

from __future__ import annotations

import random
import string
from typing import Literal

IdKind = Literal["event", "sess", "conv", "item", "resp", "call", "ek"]

_ALPHABET = string.ascii_letters + string.digits
_LENGTH = 21
_BASE = len(_ALPHABET)
_DRAWS = range(_LENGTH)


class IdFactory:
    """Makes ids like ``item_Cx9...``; one factory per connection.

    >>> ids = IdFactory(seed=1)
    >>> ids.new("item").startswith("item_")
    True
    >>> IdFactory(seed=1).new("resp") == IdFactory(seed=1).new("resp")
    True
    """

    def __init__(self, seed: int | str | None = None) -> None:
        self._random = random.Random(seed)

    def new(self, kind: IdKind) -> str:
        # random.choices(_ALPHABET, k=_LENGTH), inlined: the same draws and so the same ids,
        # without its argument handling (an id is made for every event sent).
        draw = self._random.random
        suffix = "".join([_ALPHABET[int(draw() * _BASE)] for _ in _DRAWS])
        return f"{kind}_{suffix}"
