"""The typed verdict: its failure messages, its JSON form, and producers that agree on it."""

from __future__ import annotations

import json
from pathlib import Path

from harness.mock import RealtimeMock
from mock_server.scenario.loader import load_scenario, resolve_scenario
from mock_server.scenario.served import ServedScenario
from mock_server.scenario.verdict import (
    ConnectionVerdict,
    Refusal,
    ScenarioVerdict,
    Unexpected,
    Unmet,
)
from mock_server.server import ThreadedMockServer
from mock_server.transcript import Finding
from tests.helpers import connected, recv_until, send, serving

HEAD = "name: t\ndescription: d\n"


def test_an_unmet_expectation_reads_as_the_step_why_and_what_came() -> None:
    unmet = Unmet("expect response.create", "not within 2s", ("session.update", "x"), 2)
    verdict = ConnectionVerdict(connection=2, unmet=(unmet,))
    assert not verdict.ok
    assert str(verdict) == (
        "connection 2: expect response.create: not within 2s (came instead: session.update, x)"
    )
    nothing = Unmet("expect response.create", "the connection ended first", (), 1)
    assert str(nothing).endswith("(came instead: nothing)")


def test_a_mistake_fails_and_a_warning_does_not() -> None:
    error = Finding("unknown_call_id", "no call call_x", 1.23456, "evt_1", "error", None)
    warning = Finding("silent_audio", "all zeros", 2.0, severity="warning")
    assert not ConnectionVerdict(connection=1, mistakes=(error, warning)).ok
    assert str(ConnectionVerdict(connection=1, mistakes=(error,))) == (
        "connection 1: unknown_call_id: no call call_x"
    )
    only_warning = ConnectionVerdict(connection=1, mistakes=(warning,))
    assert only_warning.ok and str(only_warning) == "connection 1: ok"
    assert only_warning.warnings == (warning,)


def test_a_problem_and_failing_unexpected_events_fail() -> None:
    problem = ConnectionVerdict(connection=3, problems=("send: {{ x }} is not captured",))
    assert not problem.ok
    assert str(problem) == "connection 3: send: {{ x }} is not captured"
    seen = (Unexpected("response.cancel", "evt_2", 0.5),)
    assert ConnectionVerdict(connection=1, unexpected=seen).ok  # recorded, not failing
    failing = ConnectionVerdict(connection=1, unexpected=seen, unexpected_fails=True)
    assert not failing.ok and str(failing) == "connection 1: unexpected response.cancel"


def test_a_scenario_verdict_reads_as_its_findings() -> None:
    assert str(ScenarioVerdict("text_turn")) == "the verdict of text_turn is ok"
    failed = ScenarioVerdict("text_turn", findings=("a", "b"))
    assert not failed.ok
    assert str(failed) == "the verdict of text_turn is not ok:\n  a\n  b"
    assert str(ScenarioVerdict(None, findings=("a",))).startswith("the verdict of the canned")


def test_the_dict_form_is_the_one_serve_has_always_printed() -> None:
    mistake = Finding("rejected_event", "bad", 0.12345, "evt_1", "error", "invalid_value")
    connection = ConnectionVerdict(
        connection=1,
        satisfied=("expect session.update",),
        unmet=(Unmet("expect response.create", "the connection ended first", ("x",), 1),),
        unexpected=(Unexpected("response.cancel", None, 0.25),),
        mistakes=(mistake,),
    )
    verdict = ScenarioVerdict(
        "t",
        findings=tuple(connection.findings()),
        refusals=(Refusal(1, 429, "rate_limit_exceeded", 12.5),),
        connections=(connection,),
    )
    assert verdict.to_dict() == {
        "scenario": "t",
        "ok": False,
        "findings": [
            "connection 1: expect response.create: the connection ended first (came instead: x)",
            "connection 1: rejected_event: bad",
        ],
        "warnings": [],
        "refusals": [{"attempt": 1, "status": 429, "code": "rate_limit_exceeded", "t": 12.5}],
        "connections": [
            {
                "connection": 1,
                "ok": False,
                "satisfied": ["expect session.update"],
                "unmet": [
                    {
                        "step": "expect response.create",
                        "why": "the connection ended first",
                        "came_instead": ["x"],
                        "connection": 1,
                    }
                ],
                "unexpected": [{"type": "response.cancel", "event_id": None, "t": 0.25}],
                "mistakes": [
                    {
                        "kind": "rejected_event",
                        "severity": "error",
                        "message": "bad",
                        "code": "invalid_value",
                        "event_id": "evt_1",
                        "t": 0.123,
                    }
                ],
                "problems": [],
            }
        ],
    }


async def test_a_library_scenario_s_verdict_has_the_old_shape_and_the_old_name_reads_it() -> None:
    served = ServedScenario(load_scenario(resolve_scenario("text_turn")))
    async with serving(served.mount()) as server, connected(server.ws_url) as ws:
        await send(ws, {"type": "input_audio_buffer.commit"})  # empty: a rejected event
        await recv_until(ws, "error")
    await server.wait_for_sessions(at_most=0)
    verdict = served.verdict()
    shape = verdict.to_dict()
    assert list(shape) == ["scenario", "ok", "findings", "warnings", "refusals", "connections"]
    (connection,) = shape["connections"]
    assert list(connection) == [
        "connection",
        "ok",
        "satisfied",
        "unmet",
        "unexpected",
        "mistakes",
        "problems",
    ]
    assert list(connection["unmet"][0]) == ["step", "why", "came_instead", "connection"]
    assert list(connection["mistakes"][0]) == [
        "kind",
        "severity",
        "message",
        "code",
        "event_id",
        "t",
    ]
    assert json.loads(json.dumps(shape)) == shape
    assert shape["ok"] is False and shape["findings"] == list(verdict.findings)
    # What every connection's verdict finds is what the scenario's verdict finds.
    assert [f for c in verdict.connections for f in c.findings()] == list(verdict.findings)
    assert connection == verdict.connections[0].to_dict()


def test_the_fixture_s_failure_is_the_served_scenario_s_verdict(tmp_path: Path) -> None:
    threaded = ThreadedMockServer(port=0)
    threaded.start()
    try:
        mock = RealtimeMock(threaded, "/t/verdict", "text_turn", folder=tmp_path)
        try:
            verdict = mock.verdict()
            assert verdict == mock.served.verdict()
            failure = mock.failure()
            assert failure is not None
            assert f"the verdict of text_turn (/t/verdict) is not ok:\n  {verdict.findings[0]}" in (
                failure
            )
        finally:
            mock.unmount()
    finally:
        threaded.stop()
