"""realtime-mock's public API: what a test suite or a script imports.

The code lives in ``mock_server`` (the wire: server, sessions, scenarios) and ``harness`` (the
pytest plugin, the reference client); this package re-exports the names users need, typed
(``py.typed``). Each name is imported on first use, so ``import realtime_mock`` costs next to
nothing until a name is touched.

A mock server in a background thread, a scenario from the library, and the reference client
through it (``ThreadedMockServer`` is the server the pytest fixture shares between tests)::

    >>> import asyncio
    >>> from realtime_mock import ClientConfig, RealtimeClient, ServedScenario, ThreadedMockServer
    >>> from realtime_mock import load_scenario, resolve_scenario
    >>> served = ServedScenario(load_scenario(resolve_scenario("text_turn")), prefix="/demo")
    >>> async def talk(url: str) -> str:
    ...     async with RealtimeClient(ClientConfig(url=url, api_key="sk-test")) as client:
    ...         return (await client.say("Hello")).text
    >>> with ThreadedMockServer(port=0) as server:
    ...     _ = server.mount(served.mount())
    ...     reply = asyncio.run(talk(f"ws://127.0.0.1:{server.port}/demo/v1/realtime"))
    >>> reply
    'Paris is sunny today, twenty two degrees.'
    >>> served.verdict().ok
    True

In pytest, the ``realtime_mock`` fixture (registered when the package is installed) hands out
:class:`RealtimeMock` objects::

    def test_tool_call(realtime_mock):
        mock = realtime_mock("function_call")
        ...  # point the client under test at mock.base_url / mock.ws_url
        mock.assert_verdict_ok()
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from harness.client import (
        AuthenticationError,
        ClientConfig,
        ClientError,
        HandshakeRefused,
        RealtimeClient,
        SessionError,
        Turn,
    )
    from harness.mock import RealtimeMock
    from harness.mock_options import MockOptions
    from mock_server.scenario.builder import ScenarioBuilder, scenario_from_dict
    from mock_server.scenario.loader import (
        LoadedScenario,
        Problem,
        ScenarioError,
        load_scenario,
        load_scenario_text,
        resolve_scenario,
    )
    from mock_server.scenario.loader import library as scenario_library
    from mock_server.scenario.model import (
        CloseFault,
        ErrorFault,
        EventMatch,
        Expect,
        FunctionCall,
        Handshake,
        McpCall,
        McpToolError,
        OutputItem,
        Repeat,
        Respond,
        Rule,
        Scenario,
        Step,
        Transcription,
        WaitUntil,
        When,
    )
    from mock_server.scenario.model import Connection as ScenarioConnection
    from mock_server.scenario.served import ServedScenario
    from mock_server.scenario.verdict import ConnectionVerdict, ScenarioVerdict
    from mock_server.server import MockServer, Mount, ThreadedMockServer
    from mock_server.transcript import Finding, Transcript

# public name -> (module, name there)
_EXPORTS: dict[str, tuple[str, str]] = {
    # the pytest fixture's class
    "RealtimeMock": ("harness.mock", "RealtimeMock"),
    "MockOptions": ("harness.mock_options", "MockOptions"),
    # scenarios in Python: the builder (what `mock.expect(...).respond(...)` is) and the dict form
    "ScenarioBuilder": ("mock_server.scenario.builder", "ScenarioBuilder"),
    "scenario_from_dict": ("mock_server.scenario.builder", "scenario_from_dict"),
    # the scenario model (what a scenario file, or code, builds)
    "Scenario": ("mock_server.scenario.model", "Scenario"),
    "Step": ("mock_server.scenario.model", "Step"),
    "Expect": ("mock_server.scenario.model", "Expect"),
    "EventMatch": ("mock_server.scenario.model", "EventMatch"),
    "Respond": ("mock_server.scenario.model", "Respond"),
    "OutputItem": ("mock_server.scenario.model", "OutputItem"),
    "FunctionCall": ("mock_server.scenario.model", "FunctionCall"),
    "McpCall": ("mock_server.scenario.model", "McpCall"),
    "McpToolError": ("mock_server.scenario.model", "McpToolError"),
    "ErrorFault": ("mock_server.scenario.model", "ErrorFault"),
    "CloseFault": ("mock_server.scenario.model", "CloseFault"),
    "WaitUntil": ("mock_server.scenario.model", "WaitUntil"),
    "Repeat": ("mock_server.scenario.model", "Repeat"),
    "Rule": ("mock_server.scenario.model", "Rule"),
    "When": ("mock_server.scenario.model", "When"),
    "Handshake": ("mock_server.scenario.model", "Handshake"),
    "ScenarioConnection": ("mock_server.scenario.model", "Connection"),
    "Transcription": ("mock_server.scenario.model", "Transcription"),
    # reading scenario files
    "load_scenario": ("mock_server.scenario.loader", "load_scenario"),
    "load_scenario_text": ("mock_server.scenario.loader", "load_scenario_text"),
    "resolve_scenario": ("mock_server.scenario.loader", "resolve_scenario"),
    "scenario_library": ("mock_server.scenario.loader", "library"),
    "LoadedScenario": ("mock_server.scenario.loader", "LoadedScenario"),
    "ScenarioError": ("mock_server.scenario.loader", "ScenarioError"),
    "Problem": ("mock_server.scenario.loader", "Problem"),
    # the server
    "MockServer": ("mock_server.server", "MockServer"),
    "Mount": ("mock_server.server", "Mount"),
    "ThreadedMockServer": ("mock_server.server", "ThreadedMockServer"),
    "ServedScenario": ("mock_server.scenario.served", "ServedScenario"),
    # the old name of ServedScenario, whose verdict() is the verdict's dict form
    # the reference client
    "RealtimeClient": ("harness.client", "RealtimeClient"),
    "ClientConfig": ("harness.client", "ClientConfig"),
    "Turn": ("harness.client", "Turn"),
    "ClientError": ("harness.client", "ClientError"),
    "AuthenticationError": ("harness.client", "AuthenticationError"),
    "HandshakeRefused": ("harness.client", "HandshakeRefused"),
    "SessionError": ("harness.client", "SessionError"),
    # the verdict: ServedScenario.verdict() and RealtimeMock.verdict() return a ScenarioVerdict
    # (ok, findings, warnings, connections; to_dict() for JSON), each connection's is a
    # ConnectionVerdict; the transcript's findings are Finding objects
    "ScenarioVerdict": ("mock_server.scenario.verdict", "ScenarioVerdict"),
    "ConnectionVerdict": ("mock_server.scenario.verdict", "ConnectionVerdict"),
    "Finding": ("mock_server.transcript", "Finding"),
    "Transcript": ("mock_server.transcript", "Transcript"),
}

__all__ = [
    "AuthenticationError",
    "ClientConfig",
    "ClientError",
    "CloseFault",
    "ConnectionVerdict",
    "ErrorFault",
    "EventMatch",
    "Expect",
    "Finding",
    "FunctionCall",
    "Handshake",
    "HandshakeRefused",
    "LoadedScenario",
    "McpCall",
    "McpToolError",
    "MockOptions",
    "MockServer",
    "Mount",
    "OutputItem",
    "Problem",
    "RealtimeClient",
    "RealtimeMock",
    "Repeat",
    "Respond",
    "Rule",
    "Scenario",
    "ScenarioBuilder",
    "ScenarioConnection",
    "ScenarioError",
    "ScenarioVerdict",
    "ServedScenario",
    "SessionError",
    "Step",
    "ThreadedMockServer",
    "Transcript",
    "Transcription",
    "Turn",
    "WaitUntil",
    "When",
    "load_scenario",
    "load_scenario_text",
    "resolve_scenario",
    "scenario_from_dict",
    "scenario_library",
]


def __getattr__(name: str) -> Any:
    try:
        module, attribute = _EXPORTS[name]
    except KeyError:
        raise AttributeError(f"module 'realtime_mock' has no attribute {name!r}") from None
    value = getattr(importlib.import_module(module), attribute)
    globals()[name] = value  # the next lookup is a plain attribute
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *__all__})
