"""realtime-mock's pytest plugin (registered through the ``pytest11`` entry point).

One mock server runs per test session (per xdist worker), in a background thread so that sync
and async tests can use it alike; each test gets its own mount under a URL prefix, so a test
costs a mount, not a server.

Example::

    def test_my_agent_calls_the_weather_tool(realtime_mock):
        mock = realtime_mock("function_call")                 # a library name or a path
        agent = MyAgent(base_url=mock.base_url, api_key=mock.api_key)
        agent.ask("Weather in Paris?")
        mock.assert_received("conversation.item.create",
                             item={"type": "function_call_output", "call_id": "call_weather_1"})
        mock.assert_verdict_ok()

    @pytest.mark.realtime_scenario("text_turn")
    def test_text(realtime_mock):
        mock = realtime_mock()                                # the marker's scenario

``realtime_mock()`` without a scenario gives the canned model. An unmet expectation fails the
test even if the test did not ask (``--realtime-mock-lenient`` turns that off), and a failing
test's report shows the conversation timeline.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from harness.timeline import render_timeline
from mock_server.scenario.loader import load_scenario, resolve_scenario
from mock_server.scenario.matchers import match
from mock_server.scenario.play import ScenarioPlay
from mock_server.server import Connection, MockServer, Mount, ThreadedMockServer
from mock_server.transcript import Transcript

API_KEY = "sk-realtime-mock-test"
_MOCKS = pytest.StashKey[list["RealtimeMock"]]()
WAIT_S = 10.0


class RealtimeMock:
    """One test's mock: a mount on the shared server, with assertions on what the client did."""

    def __init__(
        self,
        threaded: ThreadedMockServer,
        prefix: str,
        scenario: str | Path | None,
    ) -> None:
        self._threaded = threaded
        self.server: MockServer = threaded.server
        self.prefix = prefix
        self.api_key = API_KEY
        self.play: ScenarioPlay | None = None
        if scenario is not None:
            self.play = ScenarioPlay(load_scenario(resolve_scenario(str(scenario))), prefix)
            mount = self.play.mount()
        else:
            mount = Mount(prefix=prefix, pace=0.0, seed=prefix)
        self.mount = mount
        threaded.call(lambda: self.server.mount(mount))

    # ---- where to connect ----------------------------------------------------------------

    @property
    def ws_url(self) -> str:
        """``ws://127.0.0.1:PORT/<prefix>/v1/realtime``."""
        return f"ws://127.0.0.1:{self.server.port}{self.prefix}/v1/realtime"

    @property
    def base_url(self) -> str:
        """The http form for ``OPENAI_BASE_URL`` / ``base_url``."""
        return f"http://127.0.0.1:{self.server.port}{self.prefix}/v1"

    @property
    def websocket_base_url(self) -> str:
        """For SDK clients that would otherwise derive ``wss://`` (the beta client)."""
        return f"ws://127.0.0.1:{self.server.port}{self.prefix}/v1"

    # ---- what happened -------------------------------------------------------------------

    def connections(self) -> list[Connection]:
        return [c for c in list(self.server.connections) if c.mount is self.mount]

    @property
    def transcript(self) -> Transcript:
        """The transcript of the latest connection (an empty one before any)."""
        connections = self.connections()
        return connections[-1].transcript if connections else Transcript()

    @property
    def transcripts(self) -> list[Transcript]:
        return [c.transcript for c in self.connections()]

    def client_events(self, type: str | None = None) -> list[dict[str, Any]]:
        """What the client sent (every connection), optionally of one type."""
        return [e for t in self.transcripts for e in t.client_events(type)]

    def server_events(self, type: str | None = None) -> list[dict[str, Any]]:
        return [e for t in self.transcripts for e in t.server_events(type)]

    def wait_closed(self, timeout: float = WAIT_S) -> None:
        """Wait until every connection of this mock has ended."""

        async def idle() -> None:
            await self.server.wait_for_sessions(at_most=0, timeout=timeout)

        asyncio.run_coroutine_threadsafe(idle(), self._threaded._loop).result(timeout + 1)

    def verdict(self) -> dict[str, Any]:
        """The scenario's verdict (without a scenario: the client's protocol mistakes)."""
        if self.play is not None:
            return self.play.verdict()
        mistakes = [f for t in self.transcripts for f in t.findings() if f.severity == "error"]
        return {
            "scenario": None,
            "ok": not mistakes,
            "findings": [f"{f.kind}: {f.message}" for f in mistakes],
        }

    def timeline(self) -> str:
        return render_timeline(self.transcripts)

    # ---- assertions ----------------------------------------------------------------------

    def assert_received(self, type: str, **fields: Any) -> dict[str, Any]:
        """The first client event of ``type`` whose fields match (see the matchers' syntax)."""
        candidates = self.client_events(type)
        for event in candidates:
            if not match(fields, event):
                return event
        if not candidates:
            sent = sorted({str(e.get("type")) for e in self.client_events()})
            raise AssertionError(
                f"the client sent no {type}; it sent: {', '.join(sent) or 'nothing'}\n\n"
                + self.timeline()
            )
        closest = min(candidates, key=lambda e: len(match(fields, e)))
        problems = "\n  ".join(str(m) for m in match(fields, closest))
        raise AssertionError(
            f"no {type} matched {json.dumps(fields)}; the closest differs at:\n  {problems}"
        )

    def assert_verdict_ok(self) -> None:
        verdict = self.verdict()
        if not verdict["ok"]:
            findings = "\n  ".join(verdict["findings"])
            raise AssertionError(f"the verdict is not ok:\n  {findings}\n\n{self.timeline()}")

    def close(self) -> None:
        self._threaded.call(lambda: self.server.unmount(self.prefix))


@pytest.fixture(scope="session")
def realtime_mock_server() -> Iterator[ThreadedMockServer]:
    """The shared mock server (one per session or xdist worker)."""
    threaded = ThreadedMockServer(port=0, default_mount=Mount(pace=0.0, seed="pytest"))
    threaded.start()
    try:
        yield threaded
    finally:
        threaded.stop()


@pytest.fixture
def realtime_mock(
    request: pytest.FixtureRequest, realtime_mock_server: ThreadedMockServer
) -> Iterator[Callable[..., RealtimeMock]]:
    """A factory: ``mock = realtime_mock("function_call")`` (or ``realtime_mock()``)."""
    created: list[RealtimeMock] = []
    marker = request.node.get_closest_marker("realtime_scenario")

    def make(scenario: str | Path | None = None) -> RealtimeMock:
        if scenario is None and marker is not None:
            scenario = marker.args[0]
        digest = hashlib.sha1(f"{request.node.nodeid}:{len(created)}".encode()).hexdigest()[:12]
        mock = RealtimeMock(realtime_mock_server, f"/t/{digest}", scenario)
        created.append(mock)
        return mock

    request.node.stash[_MOCKS] = created
    yield make
    lenient = request.config.getoption("realtime_mock_lenient")
    try:
        for mock in created:
            if mock.play is None or lenient:
                continue
            mock.wait_closed()
            verdict = mock.verdict()
            if not verdict["ok"] and not getattr(request.node, "_realtime_failed", False):
                findings = "\n  ".join(verdict["findings"])
                pytest.fail(
                    f"realtime-mock: the scenario's expectations were not met:\n  {findings}"
                )
    finally:
        for mock in created:
            mock.close()


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("realtime-mock")
    group.addoption(
        "--realtime-mock-lenient",
        action="store_true",
        default=False,
        help="do not fail a test whose scenario verdict is not ok unless it asserts it",
    )


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers", "realtime_scenario(name_or_path): the scenario the realtime_mock fixture plays"
    )


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Any:
    report = yield
    mocks = item.stash.get(_MOCKS, [])
    if report.failed and mocks:
        item._realtime_failed = True  # type: ignore[attr-defined]
        for mock in mocks:
            timeline = mock.timeline()
            verdict = mock.verdict()
            text = timeline
            if verdict.get("findings"):
                text += "\n\nverdict findings:\n  " + "\n  ".join(verdict["findings"])
            report.sections.append((f"realtime-mock timeline {mock.prefix}", text))
    return report
