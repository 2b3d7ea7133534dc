"""``python -m bench``: run every benchmark and print one table of ratios."""

from __future__ import annotations

import importlib
import platform
import sys

BENCHMARKS = [
    "bench.event_overhead",
    "bench.vad_speed",
    "bench.startup",
    "bench.proxy_latency",
    "bench.soak",
]


def main() -> int:
    rows: list[tuple[str, str, str, str]] = []
    for name in BENCHMARKS:
        try:
            module = importlib.import_module(name)
        except ImportError as exc:
            rows.append((name, "not available", str(exc), "-"))
            continue
        rows.extend(module.run())
    header = ("benchmark", "measured", "baseline (same run)", "ratio")
    widths = [max(len(r[i]) for r in [header, *rows]) for i in range(4)]
    print(
        f"machine: {platform.machine()}, {platform.processor() or 'cpu'}, "
        f"Python {platform.python_version()}"
    )
    for row in [header, tuple("-" * w for w in widths), *rows]:
        print("  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
