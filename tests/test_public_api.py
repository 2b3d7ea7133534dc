"""``import realtime_mock``: every exported name resolves, typed, and the import itself is cheap."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

import realtime_mock

ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.parametrize("name", realtime_mock.__all__)
def test_every_exported_name_resolves(name: str) -> None:
    assert getattr(realtime_mock, name) is not None
    assert name in dir(realtime_mock)


def test_all_lists_exactly_the_exports() -> None:
    assert sorted(realtime_mock.__all__) == sorted(realtime_mock._EXPORTS)


def test_an_unknown_name_is_an_attribute_error_that_names_it() -> None:
    with pytest.raises(AttributeError, match="'nope'"):
        realtime_mock.nope  # noqa: B018


def test_the_public_names_are_the_library_objects() -> None:
    from harness.mock import RealtimeMock
    from mock_server.scenario.model import Scenario
    from mock_server.server import ThreadedMockServer

    assert realtime_mock.RealtimeMock is RealtimeMock
    assert realtime_mock.Scenario is Scenario
    assert realtime_mock.ThreadedMockServer is ThreadedMockServer


def test_the_package_is_typed() -> None:
    assert (Path(realtime_mock.__file__).parent / "py.typed").is_file()


def test_importing_the_package_imports_none_of_the_code() -> None:
    # A fresh interpreter: this process has imported everything already.
    probe = (
        "import sys, realtime_mock; "
        "print(sorted(m for m in sys.modules if m.split('.')[0] in ('mock_server', 'harness')))"
    )
    out = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, timeout=60, cwd=ROOT
    )
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "[]"
