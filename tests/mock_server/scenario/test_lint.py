"""Scenario checking: event types per dialect, captures, bounds; the schema knows the same."""

from __future__ import annotations

import time
from pathlib import Path

import jsonschema
import pytest
import yaml

from mock_server.protocol.events import CLIENT_EVENT_TYPES, SERVER_EVENT_TYPES, Dialect
from mock_server.protocol.validation import client_models, server_models
from mock_server.scenario.compile import compile_steps
from mock_server.scenario.lint import lint_paths, scenario_json_schema
from mock_server.scenario.loader import LoadedScenario, ScenarioError, load_scenario_text
from mock_server.scenario.model import (
    MAX_UNROLLED_STEPS,
    REFUSAL_STATUSES,
    Repeat,
    Scenario,
    Step,
    unrolled_size,
)
from mock_server.scenario.runner import STEPS_PER_RUN, ScenarioRunner
from mock_server.session import ServerEvent, Session, SessionOptions

HEAD = "name: broken\ndescription: a broken scenario\n"


def problems(text: str) -> list[str]:
    with pytest.raises(ScenarioError) as caught:
        load_scenario_text(text, "s.yaml")
    return [str(p) for p in caught.value.problems]


# ---- the event tables are the SDK's ------------------------------------------------------------


@pytest.mark.parametrize("dialect", list(Dialect))
def test_the_event_tables_are_the_sdks(dialect: Dialect) -> None:
    assert set(client_models(dialect)) == CLIENT_EVENT_TYPES[dialect]
    assert set(server_models(dialect)) == SERVER_EVENT_TYPES[dialect]


# ---- event types ---------------------------------------------------------------------------------


def test_a_typo_in_expect_is_an_error_with_the_suggestion() -> None:
    text = HEAD + "steps:\n  - expect: response.creat\n  - expect: {type: response.cancl}\n"
    assert problems(text) == [
        "s.yaml:4:5: unknown client event type 'response.creat' (at steps[0].expect.type) "
        "(did you mean response.create?)",
        "s.yaml:5:14: unknown client event type 'response.cancl' (at steps[1].expect.type) "
        "(did you mean response.cancel?)",
    ]


def test_typos_in_rules_groups_and_waits() -> None:
    text = HEAD + (
        "steps:\n"
        "  - any_order: [{expect: conversation.item.creat}]\n"
        "  - optional: [{expect: sesion.update}]\n"
        "  - wait: {until: response.cancle}\n"
        "rules:\n"
        "  - when: {type: input_audio_bufer.commit, after: 1}\n"
        "    do: [{send: {type: response.dne}}]\n"
    )
    found = problems(text)
    assert [p.split(" (at ")[0] for p in found] == [
        "s.yaml:4:18: unknown client event type 'conversation.item.creat'",
        "s.yaml:5:17: unknown client event type 'sesion.update'",
        "s.yaml:6:12: unknown client event type 'response.cancle'",
        "s.yaml:8:12: unknown client event type 'input_audio_bufer.commit'",
        "s.yaml:9:18: unknown server event type 'response.dne'",
    ]
    assert [p.rsplit(" (", 1)[1] for p in found] == [
        "did you mean conversation.item.create?)",
        "did you mean session.update?)",
        "did you mean response.cancel?)",
        "did you mean input_audio_buffer.commit?)",
        "did you mean response.done?)",
    ]


def test_send_types_follow_the_dialect() -> None:
    text = "dialect: ga\n" + HEAD + "steps:\n  - send: {type: response.text.delta, delta: x}\n"
    assert problems(text) == [
        "s.yaml:5:12: 'response.text.delta' is not a GA server event (the scenario's dialect) "
        "(at steps[0].send.type) (did you mean response.output_text.delta?)"
    ]
    # GA names are renamed for beta connections; beta's own names are fine there too.
    for dialect in ("beta", "any"):
        for name in ("response.output_text.delta", "response.text.delta"):
            load_scenario_text(f"dialect: {dialect}\n{HEAD}steps:\n  - send: {{type: {name}}}\n")
    (found,) = problems(
        "dialect: beta\n" + HEAD + "steps:\n  - send: {type: mcp_list_tools.failed}\n"
    )
    assert "'mcp_list_tools.failed' is not a beta server event" in found


def test_expect_types_follow_the_dialect_except_for_a_scripted_refusal() -> None:
    (found,) = problems(
        "dialect: ga\n" + HEAD + "steps:\n  - expect: transcription_session.update\n"
    )
    assert "'transcription_session.update' is not a GA client event" in found
    text = (
        "dialect: ga\n"
        + HEAD
        + ("steps:\n  - expect: {type: transcription_session.update, instead: true}\n")
    )
    load_scenario_text(text)


def test_a_send_needs_a_type() -> None:
    (found,) = problems(HEAD + "steps:\n  - send: {delta: x}\n")
    assert "s.yaml:4:" in found and "a send needs a type" in found


# ---- captures -----------------------------------------------------------------------------------


def test_a_template_naming_no_earlier_capture_is_an_error() -> None:
    text = HEAD + (
        "steps:\n"
        "  - expect: {type: conversation.item.create, capture: {call: item.call_id}}\n"
        "  - send: {type: response.done, note: 'for {{ cal }}'}\n"
        "  - expect: {type: conversation.item.create, item: {call_id: '{{ later }}'}}\n"
        "  - expect: {type: response.create, capture: {later: event_id}}\n"
        "  - respond: {function_call: {name: f, arguments: {id: '{{ new.item_idd }}'}}}\n"
    )
    assert problems(text) == [
        "s.yaml:5:33: template names capture 'cal', which no earlier step makes "
        "(at steps[1].send.note) (captured before this step: call; did you mean 'call'?)",
        "s.yaml:6:53: template names capture 'later', which no earlier step makes "
        "(at steps[2].expect.item.call_id) (captured before this step: call)",
        "s.yaml:8:52: unknown generator 'new.item_idd' (at steps[4].respond.function_call."
        "arguments.id) (use new.item_id, new.call_id, new.response_id, new.event_id)",
    ]


def test_captures_flow_through_groups_and_reach_rules() -> None:
    ok = HEAD + (
        "steps:\n"
        "  - optional: [{expect: {type: session.update, capture: {sid: event_id}}}]\n"
        "  - repeat:\n"
        "      times: 2\n"
        "      steps:\n"
        "        - expect: {type: response.create, capture: {rid: event_id}}\n"
        "        - send: {type: error, error: {type: x, message: '{{ sid }} {{ rid }}'}}\n"
        "  - respond: {text: 'ok {{ braces }} {{ rid }}'}\n"
        "rules:\n"
        "  - when: {type: response.cancel, event_id: '{{ rid }}'}\n"
        "    do: [{send: {type: error, error: {message: '{{ sid }}'}}}]\n"
    )
    load_scenario_text(ok)
    text = HEAD + (
        "steps:\n"
        "  - any_order:\n"
        "      - expect: {type: session.update, capture: {a: event_id}}\n"
        "      - expect: {type: response.create, event_id: '{{ a }}'}\n"
        "rules:\n"
        "  - when: response.cancel\n"
        "    do: [{respond: {text: '{{ nothing }}'}}]\n"
    )
    found = problems(text)
    assert "template names capture 'a'" in found[0] and "steps[0].any_order[1]" in found[0]
    assert "template names capture 'nothing'" in found[1] and "rules[0].do[0]" in found[1]


# ---- bounds -------------------------------------------------------------------------------------


def test_repeat_times_and_the_unrolled_total_are_bounded() -> None:
    (found,) = problems(HEAD + "steps:\n  - repeat: {times: 100000000, steps: [{drop: true}]}\n")
    assert found.startswith("s.yaml:4:14: repeat.times is 100000000, more than 10,000")
    nested = "  - repeat: {times: 200, steps: [{repeat: {times: 100, steps: [{drop: true}]}}]}\n"
    (found,) = problems(HEAD + "steps:\n  - drop: true\n" + nested)
    assert found.startswith("s.yaml:5:5: the steps unroll to more than 10,000 steps (at steps[1])")
    load_scenario_text(HEAD + "steps:\n  - repeat: {times: 9999, steps: [{drop: true}]}\n")


def test_refused_scenarios_load_fast() -> None:
    # The bound is checked by counting, not by unrolling (generous margin: a loaded machine).
    started = time.monotonic()
    problems(HEAD + "steps:\n" + "  - repeat: {times: 10000, steps: [{drop: true}]}\n" * 200)
    assert time.monotonic() - started < 1.0


@pytest.mark.parametrize(
    ("close", "message"),
    [
        ("{code: 1005}", "close code 1005 cannot be sent"),
        ("{code: 1006}", "close code 1006 cannot be sent"),
        ("{code: 5000}", "close code 5000 cannot be sent"),
        ("{code: 2000}", "close code 2000 cannot be sent"),
        ("{reason: " + "x" * 124 + "}", "close reason is 124 bytes in UTF-8, more than 123"),
        ("{reason: " + "é" * 62 + "}", "close reason is 124 bytes in UTF-8, more than 123"),
    ],
)
def test_unsendable_close_steps_are_refused(close: str, message: str) -> None:
    (found,) = problems(HEAD + f"steps:\n  - close: {close}\n")
    assert found.startswith("s.yaml:4:") and message in found
    assert "(at steps[0].close." in found


def test_sendable_close_steps_load() -> None:
    for code in (1000, 1003, 1007, 1014, 3000, 4000, 4999):
        reason = "x" * 123
        load_scenario_text(HEAD + f"steps:\n  - close: {{code: {code}, reason: {reason}}}\n")


def test_a_close_step_built_in_python_is_checked_too() -> None:
    with pytest.raises(ValueError, match="close code 1005 cannot be sent"):
        Step.model_validate({"close": {"code": 1005}})


@pytest.mark.parametrize(
    ("status", "hint"),
    [(499, "499 is nginx's"), (599, "use 504"), (200, "e.g. 401"), (302, "e.g. 401")],
)
def test_handshake_statuses_are_real_http_errors(status: int, hint: str) -> None:
    (found,) = problems(HEAD + f"handshake: {{status: {status}}}\n")
    assert found.startswith(f"s.yaml:3:13: handshake status {status} is not an HTTP error status")
    assert hint in found
    (found,) = problems(HEAD + f"connections:\n  - {{status: {status}}}\n")
    assert "(at connections[0].status)" in found


def test_every_real_error_status_loads() -> None:
    assert 429 in REFUSAL_STATUSES and 511 in REFUSAL_STATUSES and 499 not in REFUSAL_STATUSES
    for status in REFUSAL_STATUSES:
        load_scenario_text(HEAD + f"handshake: {{status: {status}}}\n")


# ---- the runner's own bound: scenarios built in Python ------------------------------------------


def test_a_huge_repeat_built_in_python_is_refused_by_the_runner_at_once() -> None:
    step = Step(drop=True)
    huge = Step.model_construct(repeat=Repeat.model_construct(times=10**8, steps=[step]))
    scenario = Scenario(name="x", description="y")
    scenario.steps = [huge]
    started = time.monotonic()
    runner = ScenarioRunner(LoadedScenario(scenario, "<python>", Path.cwd()), scenario.steps)
    assert time.monotonic() - started < 1.0  # generous: counting, not unrolling
    assert runner.nodes == []
    verdict = runner.verdict()
    assert not verdict.ok
    assert "unroll to more than 10,000 steps" in verdict.problems[0]


def test_unrolling_is_iterative_and_survives_cycles() -> None:
    deep = [Step(drop=True)]
    for _ in range(5000):
        deep = [Step.model_construct(optional=deep)]
    assert len(compile_steps(deep)) == 1
    looped: list[Step] = []
    looped.append(Step.model_construct(repeat=Repeat.model_construct(times=2, steps=looped)))
    assert unrolled_size(looped) == MAX_UNROLLED_STEPS + 1
    empty = [Step.model_construct(repeat=Repeat.model_construct(times=10**12, steps=[]))]
    assert compile_steps(empty) == []


def test_a_long_run_of_sends_yields_between_polls() -> None:
    send = "{send: {type: rate_limits.updated, rate_limits: []}}"
    text = HEAD + f"steps:\n  - repeat: {{times: 1000, steps: [{send}]}}\n"
    loaded = load_scenario_text(text)
    runner = ScenarioRunner(loaded, loaded.scenario.steps)
    session = Session(SessionOptions(pace=0.0, seed=1), script=runner)
    session.open(0.0)
    batches = []
    now = 0.0
    while (deadline := session.next_deadline()) is not None and len(batches) < 100:
        now = max(now, deadline)
        sent = [o for o in session.due(now) if isinstance(o, ServerEvent)]
        batches.append(sum(o.event["type"] == "rate_limits.updated" for o in sent))
    assert sum(batches) == 1000
    # open() runs the script, and due() polls it twice: three runs at most in one batch.
    assert max(batches) <= 3 * STEPS_PER_RUN < 1000


# ---- the library and the schema -----------------------------------------------------------------

LIBRARY = Path(__file__).resolve().parents[3] / "scenarios"


def test_the_library_stays_clean() -> None:
    assert lint_paths([str(LIBRARY)]) == []


def test_the_schema_knows_event_types_and_bounds() -> None:
    schema = scenario_json_schema()

    def valid(data: object) -> bool:
        try:
            jsonschema.validate(data, schema)
        except jsonschema.ValidationError:
            return False
        return True

    base = {"name": "x", "description": "y"}
    assert valid({**base, "steps": [{"expect": "response.create"}]})
    assert not valid({**base, "steps": [{"expect": "response.creat"}]})
    assert not valid({**base, "steps": [{"expect": {"type": "response.creat"}}]})
    assert not valid({**base, "steps": [{"send": {"type": "response.dne"}}]})
    assert valid({**base, "steps": [{"send": {"type": "response.text.delta"}}]})
    assert not valid({**base, "rules": [{"when": "response.cancle", "do": []}]})
    assert not valid({**base, "steps": [{"close": {"code": 1005}}]})
    assert not valid({**base, "steps": [{"close": {"code": 5000}}]})
    assert valid({**base, "steps": [{"close": {"code": 4000}}]})
    assert not valid({**base, "steps": [{"close": {"reason": "x" * 124}}]})
    assert not valid({**base, "handshake": {"status": 499}})
    assert valid({**base, "handshake": {"status": 429}})
    assert not valid({**base, "steps": [{"repeat": {"times": 10001, "steps": []}}]})
    for file in LIBRARY.glob("*.yaml"):
        assert valid(yaml.safe_load(file.read_text())), file
