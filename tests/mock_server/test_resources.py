"""mock_server.resources: which scenario library and fixtures folder the code uses."""

from __future__ import annotations

from pathlib import Path

import pytest

from mock_server import resources
from mock_server.scenario import loader


def _layout(tmp_path: Path, *, carried: bool, checkout: bool, pyproject: bool) -> None:
    package = tmp_path / "mock_server"
    package.mkdir()
    if carried:
        (package / "_scenarios").mkdir()
    if checkout:
        (tmp_path / "scenarios").mkdir()
    if pyproject:
        (tmp_path / "pyproject.toml").write_text("")


@pytest.fixture
def fake_install(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setattr(resources, "_PACKAGE", tmp_path / "mock_server")
    monkeypatch.setattr(resources, "_CHECKOUT", tmp_path)
    return tmp_path


def test_the_copy_the_package_carries_comes_first(fake_install: Path) -> None:
    _layout(fake_install, carried=True, checkout=True, pyproject=True)
    assert resources._locate("_scenarios", "scenarios") == fake_install / "mock_server/_scenarios"


def test_a_checkout_s_folder_is_used_where_the_package_carries_none(fake_install: Path) -> None:
    _layout(fake_install, carried=False, checkout=True, pyproject=True)
    assert resources._locate("_scenarios", "scenarios") == fake_install / "scenarios"


def test_a_scenarios_folder_beside_site_packages_is_not_the_library(fake_install: Path) -> None:
    # site-packages/scenarios from some other distribution: no pyproject.toml beside it.
    _layout(fake_install, carried=False, checkout=True, pyproject=False)
    assert resources._locate("_scenarios", "scenarios") == fake_install / "mock_server/_scenarios"


def test_a_missing_library_is_named_with_where_it_was_looked_for(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(loader, "LIBRARY", tmp_path / "nowhere")
    with pytest.raises(loader.ScenarioError) as caught:
        loader.resolve_scenario("function_call")
    message = str(caught.value)
    assert "no scenario named 'function_call'" in message
    assert f"the scenario library is missing: {tmp_path / 'nowhere'} does not exist" in message


def test_this_checkout_s_library_and_fixtures_are_found() -> None:
    assert (resources.SCENARIOS / "function_call.yaml").is_file()
    assert (resources.AUDIO / "manifest.yaml").is_file()
    assert resources.AUDIO == resources.FIXTURES / "audio"
