"""The benchmarks run, at tiny sizes, and return well-formed rows (so that bench/ cannot rot).

No timing is asserted: figures belong to ``python -m bench``, as ratios measured in one run.
"""

from __future__ import annotations

import importlib

import pytest

from bench.__main__ import BENCHMARKS, table


@pytest.mark.parametrize("name", BENCHMARKS)
def test_each_benchmark_returns_rows_of_four_filled_cells(name: str) -> None:
    module = importlib.import_module(name)
    rows = module.run(**module.TINY)
    assert rows
    for row in rows:
        assert len(row) == 4
        assert all(isinstance(cell, str) and cell.strip() for cell in row), row
    assert table(rows).count("\n") == len(rows) + 1


def test_the_bench_command_rejects_an_unknown_benchmark_by_listing_the_known(
    capsys: pytest.CaptureFixture[str],
) -> None:
    from harness.cli import main

    assert main(["bench", "--only", "no_such_benchmark"]) == 2
    err = capsys.readouterr().err
    assert "no_such_benchmark" in err and "vad_speed" in err
