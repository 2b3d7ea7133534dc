"""realtime-mock's pytest plugin (registered through the ``pytest11`` entry point).

One mock server runs per test session (per xdist worker), in a background thread so that sync
and async tests can use it alike; each test gets its own mount under a URL prefix, so a test
costs a mount, not a server. The fixture returns a :class:`harness.mock.RealtimeMock`.

Example::

    def test_my_agent_says_hi(realtime_mock):
        mock = realtime_mock()
        mock.expect("response.create").respond(text="Hi")     # before the client runs
        assert MyAgent(base_url=mock.base_url, api_key=mock.api_key).ask("Hello?") == "Hi"
        mock.assert_received("response.create", count=1)

    @pytest.mark.realtime_mock("function_call", timeout=5)   # a library name or a path
    def test_tools(realtime_mock):
        mock = realtime_mock()

After the test body, the plugin waits (bounded) for the mock's connections to settle and
checks the verdict: an unmet expectation fails the test in its call phase, with the findings
and the timeline (``--realtime-mock-lenient`` turns that off). Every expectation is bounded
(``realtime_mock_timeout`` in the ini file, 10 s by default), so a client that never sends
what is expected fails the test in that time instead of hanging it.

This module imports only pytest until a test uses the fixture: a suite that does not use it
pays nothing for the plugin being installed (``python -m bench --only plugin_import``).
"""

from __future__ import annotations

from collections.abc import Callable, Generator, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

if TYPE_CHECKING:
    from harness.mock import RealtimeMock, ScenarioSource
    from mock_server.server import ThreadedMockServer

_MOCKS = pytest.StashKey[list["RealtimeMock"]]()
_REPORTED = pytest.StashKey[bool]()
_HTML = pytest.StashKey[Path]()
_OPTIONS = ("dialect", "pace", "time_scale", "timeout", "api_key", "strict", "seed")


def __getattr__(name: str) -> Any:
    # `from harness.pytest_plugin import RealtimeMock` keeps working, imported only when asked.
    if name in ("RealtimeMock", "API_KEY"):
        from harness import mock

        return getattr(mock, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


@pytest.fixture(scope="session")
def realtime_mock_server() -> Iterator[ThreadedMockServer]:
    """The shared mock server (one per session or xdist worker)."""
    from mock_server.server import Mount, ThreadedMockServer

    threaded = ThreadedMockServer(port=0, default_mount=Mount(pace=0.0, seed="pytest"))
    threaded.start()
    try:
        yield threaded
    finally:
        threaded.stop()


def _ini_timeout(config: pytest.Config) -> float:
    from mock_server.units import parse_duration

    value = config.getini("realtime_mock_timeout")
    try:
        return parse_duration(str(value).strip())
    except ValueError as exc:
        raise pytest.UsageError(f"realtime_mock_timeout in the ini file: {exc}") from None


@pytest.fixture
def realtime_mock(
    request: pytest.FixtureRequest, realtime_mock_server: ThreadedMockServer
) -> Iterator[Callable[..., RealtimeMock]]:
    """A factory of mocks: ``mock = realtime_mock(scenario=None, **options)``.

    ``scenario``: a library name (``"function_call"``), a path to a YAML file, a dict in the
    YAML form, a :class:`~mock_server.scenario.model.Scenario`, or nothing (the canned model,
    until steps are added with ``mock.expect(...)``). Options: ``dialect`` (ga, beta, any),
    ``pace`` (fast, realtime, xN), ``time_scale``, ``timeout`` (the bound on expectations),
    ``api_key`` (the only key accepted), ``strict``. The ``realtime_mock`` marker gives
    defaults for both::

        @pytest.mark.realtime_mock("text_turn", pace="realtime")
        def test_text(realtime_mock):
            mock = realtime_mock()
    """
    import hashlib

    from harness.mock import RealtimeMock
    from harness.mock_options import MockOptions

    created: list[RealtimeMock] = []
    marked: dict[str, Any] = {}
    marked_scenario: ScenarioSource = None
    legacy = request.node.get_closest_marker("realtime_scenario")
    if legacy is not None:
        marked_scenario = legacy.args[0]
    marker = request.node.get_closest_marker("realtime_mock")
    if marker is not None:
        marked = dict(marker.kwargs)
        marked_scenario = marker.args[0] if marker.args else marked.pop("scenario", marked_scenario)
    default_timeout = _ini_timeout(request.config)
    try:
        width: int | None = request.config.get_terminal_writer().fullwidth
    except (AssertionError, AttributeError):  # no terminal reporter (e.g. -p no:terminal)
        width = None
    path = Path(str(request.node.path))

    def make(scenario: ScenarioSource = None, **options: Any) -> RealtimeMock:
        unknown = set(options) - set(_OPTIONS)
        if unknown:
            raise TypeError(
                f"realtime_mock() got unknown option(s) {', '.join(sorted(unknown))}; "
                f"known: {', '.join(_OPTIONS)}"
            )
        given = {**marked, **options}
        bad = set(given) - set(_OPTIONS)
        if bad:
            raise TypeError(f"the realtime_mock marker has unknown option(s) {', '.join(bad)}")
        if scenario is None:
            scenario = marked_scenario
        digest = hashlib.sha1(f"{request.node.nodeid}:{len(created)}".encode()).hexdigest()[:12]
        mock = RealtimeMock(
            realtime_mock_server,
            f"/t/{digest}",
            scenario,
            MockOptions(**given),
            folder=path.parent,
            source=f"<python {request.node.nodeid}>",
            default_timeout=default_timeout,
            width=width,
        )
        if request.config.getoption("realtime_mock_html"):
            mock.mount.keep_input_audio = True  # before the client connects: for the report
        created.append(mock)
        return mock

    request.node.stash[_MOCKS] = created
    try:
        yield make
    finally:
        for mock in created:
            mock.unmount()


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("realtime-mock")
    group.addoption(
        "--realtime-mock-lenient",
        action="store_true",
        default=False,
        help="do not fail a test whose scenario verdict is not ok unless it asserts it",
    )
    group.addoption(
        "--realtime-mock-html",
        default=None,
        metavar="DIR",
        help="write an HTML report (timeline, findings, audio, VAD markers) of each failing "
        "test's connections to DIR, one page per test; the failure names the file",
    )
    group.addoption(
        "--realtime-mock-html-all",
        action="store_true",
        default=False,
        help="with --realtime-mock-html: write a page for every test that used the mock",
    )
    parser.addini(
        "realtime_mock_timeout",
        "realtime-mock: the bound on every expectation without its own within (default 10s)",
        default="10s",
    )


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers",
        "realtime_mock(scenario=None, *, dialect, pace, time_scale, timeout, api_key, strict): "
        "defaults for the realtime_mock fixture",
    )
    config.addinivalue_line(
        "markers", "realtime_scenario(name_or_path): the scenario the realtime_mock fixture plays"
    )


def _write_html(item: pytest.Item) -> Path | None:
    """The HTML report of the test's mocks (``--realtime-mock-html``), once; None without it."""
    folder = item.config.getoption("realtime_mock_html")
    mocks = item.stash.get(_MOCKS, [])
    if not folder or not mocks:
        return None
    if _HTML in item.stash:
        return item.stash[_HTML]
    import re

    from harness.report import Section, records_of, write_report

    sections = []
    for mock in mocks:
        connections = mock.connections()
        verdict = mock.verdict()
        records = records_of(connections, verdict if mock.scripted else None)
        name = verdict.scenario or "the canned model"
        sections.append(Section(f"{name} ({mock.prefix})", records, verdict))
    name = re.sub(r"[^\w.-]+", "_", item.nodeid).strip("_")[:150] or "test"
    path = write_report(Path(folder) / f"{name}.html", sections, title=item.nodeid)
    item.stash[_HTML] = path
    return path


def _named(text: str, item: pytest.Item) -> str:
    try:
        path = _write_html(item)
    except Exception as exc:  # the report is a view: it never hides the test's own failure
        return f"{text}\n\nrealtime-mock: the HTML report could not be written: {exc!r}"
    return text if path is None else f"{text}\n\nrealtime-mock report: {path}"


def _verdict_failures(item: pytest.Item) -> list[str]:
    failures = []
    for mock in item.stash.get(_MOCKS, []):
        if not mock.checked:
            continue
        mock.settle()
        failure = mock.failure()
        if failure is not None:
            failures.append(failure)
    return failures


@pytest.hookimpl(wrapper=True)
def pytest_runtest_call(item: pytest.Item) -> Generator[None, object, object]:
    """The verdict is part of the test: checked after its body, failing its call phase."""
    if item.config.getoption("realtime_mock_lenient"):
        return (yield)
    try:
        result = yield
    except BaseException as exc:
        mocks = item.stash.get(_MOCKS, [])  # filled while the body ran
        # The body failed; if a mock gave up on an expectation (and closed the connection the
        # client was waiting on), that is the cause: report it, with what the body then raised.
        if not isinstance(exc, Exception) or not any(m.gave_up() for m in mocks):
            raise
        failures = _verdict_failures(item)
        if not failures:
            raise
        item.stash[_REPORTED] = True
        raised = f"{type(exc).__name__}: {exc}".strip()
        text = "\n\n".join(failures) + f"\n\n(the test then raised {raised})"
        pytest.fail(_named(text, item), pytrace=False)
    failures = _verdict_failures(item)
    if failures:
        item.stash[_REPORTED] = True
        pytest.fail(_named("\n\n".join(failures), item), pytrace=False)
    return result


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Any:
    report = yield
    mocks = item.stash.get(_MOCKS, [])
    if report.failed and mocks and call.when == "call" and not item.stash.get(_REPORTED, False):
        for mock in mocks:
            text = mock.timeline()
            verdict = mock.verdict()
            if verdict.findings:
                text += "\n\nverdict findings:\n  " + "\n  ".join(verdict.findings)
            report.sections.append((f"realtime-mock timeline {mock.prefix}", text))
    written = item.stash.get(_HTML, None)
    wanted = report.failed or item.config.getoption("realtime_mock_html_all")
    if mocks and call.when == "call" and wanted and written is None:
        try:
            written = _write_html(item)
        except Exception as exc:  # a view: never hides the test's own result
            report.sections.append(("realtime-mock report", f"not written: {exc!r}"))
        if written is not None:
            report.sections.append(("realtime-mock report", str(written)))
    return report
