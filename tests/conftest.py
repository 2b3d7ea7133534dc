"""Suite-wide fixtures: Hypothesis profiles and the conformance gate.

Every server event any mock session emits during a test is validated against the official SDK's
server-event union for its dialect; a test during which a non-conforming event was sent fails,
so a new event shape cannot slip in untested (strict clients reject such events). A test that
sends malformed server events on purpose opts out with ``@pytest.mark.nonconforming``.

The fuzz suite (tests/mock_server/test_fuzz.py) records how many frames and sessions it tried;
the terminal summary prints their sum (also under pytest-xdist, whose reports carry them).
"""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest
from hypothesis import HealthCheck, settings

from mock_server import conformance
from tests.helpers import server  # noqa: F401  (the shared fixture: a server, default mount)

settings.register_profile(
    "ci",
    max_examples=30,
    deadline=None,
    derandomize=True,
    suppress_health_check=[HealthCheck.too_slow],
)
settings.register_profile("dev", max_examples=60, deadline=None)
settings.register_profile("long", max_examples=2000, deadline=None)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci" if os.environ.get("CI") else "dev"))

conformance.install()


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers", "nonconforming: the test sends server events that break the SDK's models"
    )


_FUZZ_COUNTS = {"fuzz_frames": 0, "fuzz_sessions": 0}


def pytest_runtest_logreport(report: pytest.TestReport) -> None:
    if report.when == "teardown":
        for name, value in report.user_properties:
            if name in _FUZZ_COUNTS and isinstance(value, int):
                _FUZZ_COUNTS[name] += value


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    if _FUZZ_COUNTS["fuzz_frames"]:
        terminalreporter.write_line(
            f"fuzz: {_FUZZ_COUNTS['fuzz_frames']} frames in "
            f"{_FUZZ_COUNTS['fuzz_sessions']} sessions tried "
            "(tests/mock_server/test_fuzz.py; HYPOTHESIS_PROFILE=long for a longer run)"
        )


@pytest.fixture(autouse=True)
def _server_events_conform(request: pytest.FixtureRequest) -> Iterator[None]:
    conformance.take()
    yield
    problems = conformance.take()
    if problems and request.node.get_closest_marker("nonconforming") is None:
        listing = "\n".join(problems[:20])
        pytest.fail(f"the mock sent {len(problems)} non-conforming server event(s):\n{listing}")
