"""Ids: drawn in batches, yet exactly what ``random.choices`` on the seed would give."""

from __future__ import annotations

import random
import string

from hypothesis import given
from hypothesis import strategies as st

from mock_server.ids import IdFactory


@given(st.one_of(st.integers(), st.text(max_size=12)), st.integers(min_value=1, max_value=150))
def test_ids_are_what_random_choices_would_draw(seed: int | str, count: int) -> None:
    alphabet = string.ascii_letters + string.digits
    reference = random.Random(seed)
    ids = IdFactory(seed)
    for _ in range(count):
        assert ids.new("event") == "event_" + "".join(reference.choices(alphabet, k=21))
