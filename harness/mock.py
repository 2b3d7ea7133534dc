"""One test's mock: a mount on a shared server, scripted in Python or YAML, with assertions.

:class:`RealtimeMock` is what the pytest fixture ``realtime_mock`` returns (and what any other
test runner can use directly over a :class:`~mock_server.server.ThreadedMockServer`). It is a
:class:`~mock_server.scenario.builder.ScenarioBuilder` of its own scenario: steps registered
with ``mock.expect(...)``, ``mock.respond(...)`` apply to every connection made after them, so
they are registered before the client runs. Its assertions name what was expected and show
what came instead; its :meth:`RealtimeMock.failure` is the verdict a test reports, with the
timeline.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Mapping
from dataclasses import replace
from pathlib import Path
from typing import Any

from harness.mock_options import MockOptions, dialect_option, pace_name
from harness.timeline import render_timeline
from mock_server.scenario.builder import ScenarioBuilder, scenario_from_dict
from mock_server.scenario.compile import DEFAULT_TIMEOUT
from mock_server.scenario.loader import LoadedScenario, load_scenario, resolve_scenario
from mock_server.scenario.matchers import match
from mock_server.scenario.model import Handshake, Scenario
from mock_server.scenario.runner import ScenarioRunner
from mock_server.scenario.served import ServedScenario
from mock_server.scenario.verdict import ScenarioVerdict
from mock_server.server import Connection, MockServer, ThreadedMockServer
from mock_server.transcript import Transcript
from mock_server.units import parse_duration

API_KEY = "sk-realtime-mock-test"
# How long assert_received waits for the server to have taken in what the client just sent
# (the server runs in another thread; a send returns before the mock has read it).
RECEIVE_WAIT_S = 2.0
# Beyond the longest bound of a scenario's steps: how long a finished test waits for its
# connections to settle before the verdict (the mock closes a connection whose bound passes).
SETTLE_MARGIN_S = 3.0
_POLL_S = 0.01

ScenarioSource = str | Path | Mapping[str, Any] | Scenario | None


class RealtimeMock(ScenarioBuilder):
    """A scenario (or the canned model) served under its own URL prefix.

    Example (the pytest fixture makes these)::

        mock = realtime_mock()
        mock.expect("conversation.item.create").expect("response.create").respond(text="Hi")
        run_my_client(base_url=mock.base_url, api_key=mock.api_key)
        mock.assert_received("response.create")
    """

    def __init__(
        self,
        threaded: ThreadedMockServer,
        prefix: str,
        scenario: ScenarioSource = None,
        options: MockOptions | None = None,
        *,
        folder: Path | None = None,
        source: str = "<python>",
        default_timeout: float = DEFAULT_TIMEOUT,
        width: int | None = None,
    ) -> None:
        options = options or MockOptions()
        base = self._load(scenario, folder or Path.cwd(), source)
        super().__init__(base.scenario.name, folder=base.folder, source=base.source)
        self._threaded = threaded
        self.server: MockServer = threaded.server
        self.prefix = prefix
        self.options = options
        self.api_key = options.api_key or API_KEY
        self.width = width
        # Without a scenario, and until a step is added, the mock is the canned model.
        self.scripted = scenario is not None
        self._base = base
        self._overrides = self._settings_from(base.scenario, options, default_timeout)
        self.served = ServedScenario(self._compose(), prefix)
        mount = self.served.mount()
        if not self.scripted:
            mount.any_model = False  # the canned model refuses unknown models, as live does
        self.mount = mount
        self._changed = self._recompose
        threaded.call(lambda: self.server.mount(mount))

    # ---- the scenario --------------------------------------------------------------------

    @staticmethod
    def _load(scenario: ScenarioSource, folder: Path, source: str) -> LoadedScenario:
        if scenario is None:
            return LoadedScenario(scenario_from_dict({}, source), source, folder)
        if isinstance(scenario, Scenario):
            return LoadedScenario(scenario, source, folder)
        if isinstance(scenario, Mapping):
            return LoadedScenario(scenario_from_dict(scenario, source), source, folder)
        path = Path(scenario)
        if not path.is_absolute() and not path.exists() and (folder / path).exists():
            path = folder / path  # a file next to the test
        return load_scenario(resolve_scenario(str(path)))

    def _settings_from(
        self, scenario: Scenario, options: MockOptions, default_timeout: float
    ) -> dict[str, Any]:
        out: dict[str, Any] = {}
        if options.dialect is not None:
            out["dialect"] = dialect_option(options.dialect)
        if options.pace is not None:
            out["pace"] = pace_name(options.pace)
        if options.time_scale is not None:
            out["time_scale"] = float(options.time_scale)
        # The test's own timeout, else the scenario's, else the ini file's (or 10 s).
        if options.timeout is not None:
            out["timeout"] = parse_duration(options.timeout)
        elif scenario.timeout is None:
            out["timeout"] = default_timeout
        if options.api_key is not None:
            handshake = scenario.handshake.model_dump(exclude_unset=True)
            out["handshake"] = Handshake(**{**handshake, "require_key": options.api_key})
        if options.strict:
            out["unexpected"] = "fail"
        seed = options.seed if options.seed is not None else scenario.seed
        out["seed"] = seed if seed is not None else self.prefix
        return out

    def _compose(self) -> LoadedScenario:
        scenario = self._base.scenario
        update = {
            **self._overrides,
            "steps": [*scenario.steps, *self._steps],
            "rules": [*scenario.rules, *self._rules],
        }
        composed = scenario.model_copy(update=update)
        return LoadedScenario(composed, self._base.source, self._base.folder, self._base.lines)

    def _recompose(self) -> None:
        self.scripted = True
        loaded = self._compose()
        # Connections made from now on play the new steps (the server thread reads these).
        self.served.loaded, self.served.scenario = loaded, loaded.scenario

    def build(self, **settings: Any) -> Scenario:
        """The scenario this mock plays (the loaded one, the steps added, the options)."""
        return self._compose().scenario.model_copy(update=settings)

    @property
    def timeout(self) -> float:
        """The bound on every expectation without its own ``within`` (real seconds)."""
        value = self.served.scenario.timeout
        return value if value is not None else DEFAULT_TIMEOUT

    # ---- where to connect ----------------------------------------------------------------

    @property
    def ws_url(self) -> str:
        """``ws://127.0.0.1:PORT/<prefix>/v1/realtime``."""
        return self.server.url_for(self.prefix)

    @property
    def base_url(self) -> str:
        """The http form for ``OPENAI_BASE_URL`` / ``base_url``."""
        return self.server.url_for(self.prefix, scheme="http")

    @property
    def websocket_base_url(self) -> str:
        """For SDK clients that would otherwise derive ``wss://`` (the beta client)."""
        return self.server.url_for(self.prefix, scheme="ws", path="/v1")

    @property
    def calls_url(self) -> str:
        """Where a WebRTC client POSTs its SDP offer: ``http://.../<prefix>/v1/realtime/calls``."""
        return self.server.url_for(self.prefix, scheme="http", path="/v1/realtime/calls")

    def ephemeral_key(self) -> str:
        """A key for a browser's WebRTC call (``ek_...``), as a backend mints one."""
        return mint_ephemeral_key(self.base_url, self.api_key)

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
        """What the mock sent (every connection), optionally of one type."""
        return [e for t in self.transcripts for e in t.server_events(type)]

    def wait_closed(self, timeout: float = 10.0) -> None:
        """Wait until every connection of this mock has ended (TimeoutError with what is open)."""
        if not self._wait(lambda: all(c.ended for c in self.connections()), timeout):
            open_ = [c.number for c in self.connections() if not c.ended]
            raise TimeoutError(
                f"connection(s) {open_} of {self.prefix} still open after {timeout}s"
            )

    def settle(self, timeout: float | None = None) -> bool:
        """Wait (bounded) until no connection waits for the client any more: each has ended, or
        its script has nothing left to wait for. Returns whether that happened in time."""
        return self._wait(self._settled, self._settle_bound() if timeout is None else timeout)

    def _runner(self, connection: Connection) -> ScenarioRunner | None:
        script = connection.session.script if connection.session is not None else None
        return script if isinstance(script, ScenarioRunner) else None

    def _settled(self) -> bool:
        for connection in self.connections():
            if connection.ended:
                continue
            runner = self._runner(connection)
            if runner is None or runner.waiting():
                return False
        return True

    def _settle_bound(self) -> float:
        longest = 0.0
        scale = self.served.scenario.time_scale
        for runner in list(self.served.runners):
            for node in runner.nodes:
                for expect in node.expects:
                    if expect.within is not None:
                        longest = max(longest, expect.within / scale)
        return max(self.timeout, longest) + SETTLE_MARGIN_S

    @staticmethod
    def _wait(done: Callable[[], bool], timeout: float) -> bool:
        deadline = time.monotonic() + timeout
        while not done():
            if time.monotonic() >= deadline:
                return False
            time.sleep(_POLL_S)
        return True

    @property
    def checked(self) -> bool:
        """Whether a test's verdict is checked after it (a scenario, steps, or ``strict``)."""
        return self.scripted or self.options.strict

    def verdict(self) -> ScenarioVerdict:
        """The scenario's verdict (without a scenario: the client's protocol mistakes)."""
        if self.scripted:
            verdict = self.served.verdict()
        else:
            findings = [f for t in self.transcripts for f in t.findings()]
            verdict = ScenarioVerdict(
                scenario=None,
                findings=tuple(f"{f.kind}: {f.message}" for f in findings if f.severity == "error"),
                warnings=tuple(
                    f"{f.kind}: {f.message}" for f in findings if f.severity == "warning"
                ),
            )
        if self.options.strict and verdict.warnings:
            verdict = replace(verdict, findings=(*verdict.findings, *verdict.warnings))
        return verdict

    def gave_up(self) -> bool:
        """Whether the mock closed a connection because an expectation was not met in time."""
        return any(runner.stopped for runner in list(self.served.runners))

    def timeline(self) -> str:
        connections = self.connections()
        return render_timeline(
            [c.transcript for c in connections],
            width=self.width,
            numbers=[c.number for c in connections],
        )

    def failure(self) -> str | None:
        """What a test reports when the verdict is not ok (findings and timeline), else None."""
        verdict = self.verdict()
        if verdict.ok:
            return None
        findings = "\n  ".join(verdict.findings)
        name = verdict.scenario or "the canned model"
        return (
            f"realtime-mock: the verdict of {name} ({self.prefix}) is not ok:\n  {findings}"
            f"\n\n{self.timeline()}"
        )

    # ---- assertions ----------------------------------------------------------------------

    def _matching(self, type: str, fields: dict[str, Any]) -> list[dict[str, Any]]:
        return [e for e in self.client_events(type) if not match(fields, e)]

    def _instead(self, type: str, fields: dict[str, Any]) -> str:
        """What came instead: the nearest candidate and the fields that differed."""
        candidates = [e for e in self.client_events(type) if match(fields, e)]
        if not candidates:
            sent = sorted({str(e.get("type")) for e in self.client_events()})
            return f"the client sent no {type}; it sent: {', '.join(sent) or 'nothing'}"
        closest = min(candidates, key=lambda e: len(match(fields, e)))
        problems = "\n  ".join(str(m) for m in match(fields, closest))
        which = f"{len(candidates)} other {type}" if len(candidates) > 1 else f"one other {type}"
        return (
            f"{which} came; the closest ({closest.get('event_id', 'no event_id')}) differs at:"
            f"\n  {problems}"
        )

    def assert_received(
        self, type: str, count: int | None = None, *, timeout: float = RECEIVE_WAIT_S, **fields: Any
    ) -> dict[str, Any]:
        """The first client event of ``type`` whose fields match (the matchers' syntax); with
        ``count``, exactly that many must match. Waits up to ``timeout`` for them to arrive
        (the mock reads the client's frames in its own thread).

        Example: ``mock.assert_received("conversation.item.create", item={"role": "user"})``,
        ``mock.assert_received("response.create", count=2)``.
        """
        __tracebackhide__ = True
        if count is not None and count < 1:
            raise ValueError("count must be at least 1 (use assert_not_received for none)")
        wanted = 1 if count is None else count
        self._wait(lambda: len(self._matching(type, fields)) >= wanted, timeout)
        found = self._matching(type, fields)
        shown = f" {json.dumps(fields, default=str)}" if fields else ""
        if count is not None and len(found) != count:
            instead = "" if len(found) > count else f"; came instead: {self._instead(type, fields)}"
            raise AssertionError(
                f"expected {count} {type}{shown}, the client sent {len(found)}{instead}"
            )
        if not found:
            if not fields:
                raise AssertionError(self._instead(type, fields))
            raise AssertionError(
                f"no {type} matched{shown}; came instead: {self._instead(type, fields)}"
            )
        return found[0]

    def assert_not_received(self, type: str, **fields: Any) -> None:
        """No client event of ``type`` matched these fields (none of its kind, without fields).

        Example: ``mock.assert_not_received("response.cancel")``.
        """
        __tracebackhide__ = True
        found = self._matching(type, fields)
        if found:
            shown = f" matching {json.dumps(fields, default=str)}" if fields else ""
            first = json.dumps(found[0], default=str)
            first = first if len(first) <= 300 else first[:297] + "..."
            raise AssertionError(f"the client sent {len(found)} {type}{shown}; the first: {first}")

    def last(self, type: str) -> dict[str, Any]:
        """The latest client event of ``type`` (AssertionError naming what came, if none).

        Example: ``mock.last("session.update")["session"]["output_modalities"]``.
        """
        __tracebackhide__ = True
        events = self.client_events(type)
        if not events:
            raise AssertionError(self._instead(type, {}))
        return events[-1]

    def assert_verdict_ok(self) -> None:
        """The scenario's verdict is ok (waits, bounded, for the connections to settle)."""
        __tracebackhide__ = True
        self.settle()
        failure = self.failure()
        if failure is not None:
            raise AssertionError(failure)

    def unmount(self) -> None:
        """Stop serving this mock's prefix (the fixture does it after the test)."""
        self._threaded.call(lambda: self.server.unmount(self.prefix))


def mint_ephemeral_key(base_url: str, api_key: str, fallback: str = "ek_realtime_mock") -> str:
    """An ``ek_`` key from ``POST {base_url}/realtime/client_secrets``, as a backend mints one;
    ``fallback`` where the server issues none (a mount that accepts any key takes it)."""
    import urllib.request

    request = urllib.request.Request(
        f"{base_url.rstrip('/')}/realtime/client_secrets",
        data=b"{}",
        headers={"Authorization": f"Bearer {api_key}", "Content-Type": "application/json"},
        method="POST",
    )
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            value = json.loads(response.read()).get("value")
    except (OSError, ValueError, AttributeError):  # URLError is an OSError
        return fallback
    return value if isinstance(value, str) and value.startswith("ek_") else fallback
