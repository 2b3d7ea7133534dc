"""realtime-mock's pytest plugin (registered through the ``pytest11`` entry point).

For now it gives one fixture, ``realtime_mock_server``: a mock server shared by the whole test
session (per xdist worker), running in a background thread so that sync and async tests can both
use it. The fuller harness (per-test mounts, scenarios, assertions, the failure timeline) builds
on it.

Example::

    def test_my_agent(realtime_mock_server):
        agent = MyAgent(base_url=realtime_mock_server.base_url, api_key="sk-test")
        assert agent.ask("Hello") == 'You said: "Hello".'
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from mock_server.server import MockServer, Mount, ThreadedMockServer


@pytest.fixture(scope="session")
def realtime_mock_server() -> Iterator[MockServer]:
    """A running mock (ws on a free 127.0.0.1 port, responses as fast as possible)."""
    threaded = ThreadedMockServer(port=0, default_mount=Mount(pace=0.0, seed="pytest"))
    server = threaded.start()
    try:
        yield server
    finally:
        threaded.stop()
