"""Long conversation: a turn late in a long session costs what a turn early in it costs.

One session is driven without a socket (sans-I/O, as tests/helpers.py's ``SessionDriver``
does) through ``turns`` text turns: a user ``input_text`` item, ``response.create``, then the
events due until ``response.done``. Each turn is timed with ``time.perf_counter``. The
baseline, measured in the same run, is the mean of a session's first ``window`` turns; the
figure is the mean of the last ``window`` turns of a session of ``turns``. The two windows run
interleaved, turn by turn, once the long session has played its earlier turns, with the cyclic
collector paused (see :func:`window_seconds`); each figure is the least of ``runs`` such runs.
Target: the last turns cost at most 1.10x the first.
``python -m bench.long_conversation --profile`` prints a cProfile of the last window's turns.
"""

from __future__ import annotations

import cProfile
import gc
import json
import pstats
import sys
import time
from collections.abc import Callable

from bench import Row
from mock_server.session import ServerEvent, Session, SessionOptions

QUICK = {"turns": 500, "window": 50, "runs": 2}
TINY = {"turns": 20, "window": 5, "runs": 1}


def _turn_driver() -> Callable[[int], None]:
    """A fresh session and a function that plays its turn ``n`` to the end."""
    session = Session(SessionOptions(pace=0.0, seed=7))
    session.open(0.0)
    # Text replies: the turn's cost is the session's, not the placeholder speech's.
    text_only = {"type": "realtime", "output_modalities": ["text"]}
    session.receive(json.dumps({"type": "session.update", "session": text_only}), 0.0)
    session.due(0.0)
    create_response = json.dumps({"type": "response.create"})

    def turn(n: int) -> None:
        user_item = {
            "type": "conversation.item.create",
            "item": {
                "type": "message",
                "role": "user",
                "content": [{"type": "input_text", "text": f"Turn {n}: what is the weather?"}],
            },
        }
        session.receive(json.dumps(user_item), 0.0)
        session.receive(create_response, 0.0)
        # Pace 0: the whole reply is due at once; the loop is bounded in case it is not.
        for _ in range(1000):
            if any(
                isinstance(out, ServerEvent) and out.event["type"] == "response.done"
                for out in session.due(0.0)
            ):
                return
        raise RuntimeError(f"turn {n} never reached response.done")

    return turn


def window_seconds(turns: int, window: int) -> tuple[list[float], list[float]]:
    """Each turn's time in the first ``window`` turns of a session and in the last ``window``
    of another of ``turns``, interleaved turn by turn (A B A B), so that a burst of another
    process's work on the shared machine lands on both."""
    old = _turn_driver()
    for n in range(turns - window):
        old(n)
    young = _turn_driver()
    first, last = [], []
    # The cyclic collector is paused while the windows run: a collection falls on the turn
    # whose allocation crosses its threshold, and with the two sessions' turns alternating,
    # that is one side's turns far more than the other's, though both allocate alike (22 of
    # 23 collections fell on the long session's turns, each turn adding 84 containers on
    # either side). What a collection costs as the heap grows is measured apart (BENCHMARKS.md).
    gc.disable()
    try:
        for n in range(window):
            start = time.perf_counter()
            young(n)
            middle = time.perf_counter()
            old(turns - window + n)
            last.append(time.perf_counter() - middle)
            first.append(middle - start)
    finally:
        gc.enable()
    return first, last


def run(turns: int = 1000, window: int = 100, runs: int = 3) -> list[Row]:
    firsts, lasts = [], []
    for _ in range(max(1, runs)):
        first_times, last_times = window_seconds(turns, window)
        firsts.append(sum(first_times) / window)
        lasts.append(sum(last_times) / window)
    # The least disturbed of the runs (as bench.best_of).
    first, last = min(firsts), min(lasts)
    return [
        (
            f"long conversation (sans-I/O: turns {turns - window + 1}-{turns} against 1-{window}, "
            f"interleaved, best of {runs})",
            f"{last * 1e6:.0f} us per turn, last {window}",
            f"{first * 1e6:.0f} us per turn, first {window}",
            f"{last / first:.2f}x (target <= 1.10)",
        )
    ]


def profile(turns: int = 1000, window: int = 100) -> None:
    """cProfile of the last ``window`` turns of ``turns``: what grows with the conversation."""
    turn = _turn_driver()
    for n in range(turns - window):
        turn(n)
    profiler = cProfile.Profile()
    profiler.enable()
    for n in range(turns - window, turns):
        turn(n)
    profiler.disable()
    pstats.Stats(profiler).sort_stats("tottime").print_stats(25)


if __name__ == "__main__":
    if "--profile" in sys.argv[1:]:
        profile()
    else:
        for row in run():
            print(" | ".join(row))
