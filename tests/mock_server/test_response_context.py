"""A response does not hold its copy of the conversation while it streams.

The responder is given a copy of the conversation's items (its ``context``). Held while the
response streams (at ``pace: 0`` all of it streams as it starts), that copy is a young container
as long as the conversation, which every collection of the youngest generation walks: late in a
long session each such collection cost about four times what it cost early on (benchmark
``long_conversation``, BENCHMARKS.md).
"""

from __future__ import annotations

import gc
from typing import Any

from tests.helpers import SessionDriver


def _copies_of(items: list[Any]) -> list[list[Any]]:
    """Lists other than ``items`` itself that hold exactly its elements, in order."""
    return [
        found
        for found in gc.get_objects()
        if type(found) is list
        and found is not items
        and len(found) == len(items)
        and all(a is b for a, b in zip(found, items, strict=True))
    ]


def test_a_response_streams_without_a_copy_of_the_conversation() -> None:
    driver = SessionDriver()
    for n in range(5):
        driver.send(
            {
                "type": "conversation.item.create",
                "item": {
                    "type": "message",
                    "role": "user",
                    "content": [{"type": "input_text", "text": f"turn {n}"}],
                },
            }
        )
    responses = driver.session.responses
    advance = responses.advance
    seen: list[int] = []

    def streaming(*args: Any) -> None:  # the response's first stretch, as it starts
        seen.append(len(_copies_of(driver.session.items)))
        advance(*args)

    responses.advance = streaming  # type: ignore[method-assign]
    events = driver.send({"type": "response.create"})
    assert "response.done" in [event["type"] for event in events]
    assert seen == [0]
