"""``realtime-mock demo``: the reference client through the whole scenario library.

For each library scenario (in the dialects it runs in) the mock serves it, the reference client
does what a correct voice agent does there, and the scenario's verdict is collected. The demo
prints the verdict table and where the reply audio was written, ends with what to do next
(your own client against ``serve``, the pytest fixture), and exits 0 only when every scenario
passed.
"""

from __future__ import annotations

import time
from pathlib import Path

from harness.reference import DRIVERS, dialects, play, verdict_table
from mock_server.scenario.verdict import ScenarioVerdict

# The demo's last words: the two ways on from here, each one command or one line of code.
NEXT_STEPS = (
    "next: run `realtime-mock serve` and point your own client at the URL it prints, "
    "or use the `realtime_mock` pytest fixture in your tests (see the README)"
)


async def run_demo(out: str, only_dialect: str | None = None) -> int:
    out_dir = Path(out)
    out_dir.mkdir(parents=True, exist_ok=True)
    print("realtime-mock demo: the reference client through the scenario library\n")
    rows: list[tuple[str, str, ScenarioVerdict, float]] = []
    written: list[Path] = []
    for name in DRIVERS:
        for dialect in dialects(name):
            if only_dialect is not None and dialect != only_dialect:
                continue
            start = time.monotonic()
            verdict, ctx = await play(name, dialect, out_dir=out_dir / dialect)
            seconds = time.monotonic() - start
            rows.append((name, dialect, verdict, seconds))
            written += ctx.audio_written
            print(f"  {'pass' if verdict.ok else 'FAIL'} {name} ({dialect}, {seconds:.2f}s)")
    print("\n" + verdict_table(rows))
    if written:
        print("\nreply audio written to:")
        for path in written:
            print(f"  {path}")
    print("\n" + NEXT_STEPS)
    return 0 if all(verdict.ok for _, _, verdict, _ in rows) else 1
