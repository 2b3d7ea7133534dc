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


def test_nothing_in_bench_imports_the_cli() -> None:
    """bench owns its command line: `realtime-mock bench` hands it its arguments, and the
    benchmarks that need a server start `python -m harness.cli` as a process."""
    import ast
    from pathlib import Path

    importers = []
    for path in sorted((Path(__file__).resolve().parents[2] / "bench").glob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            names = []
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom):
                names = [node.module or ""]
                if node.module == "harness":
                    names += [f"harness.{alias.name}" for alias in node.names]
            importers += [
                f"{path.name}:{node.lineno}"
                for name in names
                if name == "harness.cli" or name.startswith("harness.cli.")
            ]
    assert importers == []


def test_python_m_bench_owns_its_options(capsys: pytest.CaptureFixture[str]) -> None:
    from bench.__main__ import main

    with pytest.raises(SystemExit) as exit:
        main(["--help"])
    assert exit.value.code == 0
    out = capsys.readouterr().out
    assert "--quick" in out and "--only NAME" in out
    assert main(["--only", "no_such_benchmark"]) == 2
