"""The scenario format: loading, lint messages with lines, matchers, templating, schema."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import jsonschema
import pytest
import yaml
from hypothesis import given
from hypothesis import strategies as st

from mock_server.scenario.lint import lint_paths, scenario_json_schema
from mock_server.scenario.loader import ScenarioError, load_scenario, resolve_scenario
from mock_server.scenario.matchers import get_path, match
from mock_server.scenario.templating import TemplateError, render
from mock_server.units import parse_duration

LIBRARY = Path(__file__).resolve().parents[3] / "scenarios"
HEAD = "name: broken\ndescription: a broken scenario\n"


def problems_of(tmp_path: Path, text: str, name: str = "s.yaml") -> list[str]:
    path = tmp_path / name
    path.write_text(text)
    with pytest.raises(ScenarioError) as caught:
        load_scenario(path)
    return [str(p) for p in caught.value.problems]


def test_library_is_lint_clean_and_fits_the_schema() -> None:
    assert lint_paths([str(LIBRARY)]) == []
    schema = scenario_json_schema()
    for file in LIBRARY.glob("*.yaml"):
        jsonschema.validate(yaml.safe_load(file.read_text()), schema)


def test_bad_yaml_names_file_and_line(tmp_path: Path) -> None:
    (found,) = problems_of(tmp_path, HEAD + "steps:\n  - expect: x\n   respond: y\n")
    assert found.startswith(f"{tmp_path / 's.yaml'}:5:")
    assert "invalid YAML" in found


def test_unknown_step_suggests_the_right_one(tmp_path: Path) -> None:
    (found,) = problems_of(
        tmp_path, HEAD + "steps:\n  - expect: response.create\n  - respnd: {text: hi}\n"
    )
    assert ":5:5: unknown field 'respnd' (at steps[1].respnd) (did you mean 'respond'?)" in found


def test_wrong_field_type_names_the_value(tmp_path: Path) -> None:
    (found,) = problems_of(tmp_path, HEAD + "steps:\n  - close: {code: soon}\n")
    assert ":4:" in found and "steps[0].close.code" in found and "'soon'" in found


def test_unknown_fixture(tmp_path: Path) -> None:
    (found,) = problems_of(tmp_path, HEAD + "steps:\n  - respond:\n      audio: answer.wav\n")
    assert ":5:7:" in found and "fixture 'answer.wav' not found" in found


def test_fixture_paths_stay_in_the_scenario_folder(tmp_path: Path) -> None:
    folder = tmp_path / "inner"
    folder.mkdir()
    (tmp_path / "secret.wav").write_bytes(b"RIFF")
    (found,) = problems_of(folder, HEAD + "steps:\n  - respond: {audio: ../secret.wav}\n")
    assert ":4:" in found and "leaves the scenario's folder" in found
    (found,) = problems_of(
        folder, HEAD + f"steps:\n  - respond: {{audio: {tmp_path}/secret.wav}}\n"
    )
    assert "absolute fixture path" in found
    os.symlink(tmp_path / "secret.wav", folder / "link.wav")
    (found,) = problems_of(folder, HEAD + "steps:\n  - respond: {audio: link.wav}\n")
    assert "leaves the scenario's folder" in found


def test_project_fixtures_by_reference(tmp_path: Path) -> None:
    path = tmp_path / "ok.yaml"
    path.write_text(HEAD + "steps:\n  - respond: {audio: 'fixture:audio/answer.wav'}\n")
    assert load_scenario(path).fixture("fixture:audio/answer.wav").name == "answer.wav"
    (found,) = problems_of(
        tmp_path, HEAD + "steps:\n  - respond: {audio: 'fixture:../pyproject.toml'}\n"
    )
    assert "leaves" in found


def test_object_constructing_tags_are_refused(tmp_path: Path) -> None:
    (found,) = problems_of(tmp_path, "name: !!python/object/apply:os.system [echo hi]\n")
    assert ":1:7:" in found and "is not allowed" in found


def test_a_step_does_one_thing(tmp_path: Path) -> None:
    (found,) = problems_of(tmp_path, HEAD + "steps:\n  - {expect: x, drop: true}\n")
    assert "a step does one thing; this one has expect, drop" in found


def test_unknown_library_name_suggests(tmp_path: Path) -> None:
    with pytest.raises(ScenarioError, match="Did you mean function_call"):
        resolve_scenario("function_cal")


def test_lint_cli_exit_codes(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text(HEAD + "steps:\n  - wiat: 2s\n")
    result = subprocess.run(
        [sys.executable, "-m", "harness.cli", "lint", str(LIBRARY), str(bad)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 1
    assert f"{bad}:4:5: unknown field 'wiat'" in result.stdout
    assert "did you mean 'wait'?" in result.stdout
    ok = subprocess.run(
        [sys.executable, "-m", "harness.cli", "lint", str(LIBRARY)], capture_output=True, timeout=60
    )
    assert ok.returncode == 0


def test_schema_cli_writes_json(tmp_path: Path) -> None:
    out = tmp_path / "schema.json"
    subprocess.run(
        [sys.executable, "-m", "harness.cli", "schema", "--out", str(out)], check=True, timeout=60
    )
    schema = json.loads(out.read_text())
    assert schema["title"] == "realtime-mock scenario"
    assert "steps" in schema["properties"]


# ---- matchers and templating -----------------------------------------------------------------


@pytest.mark.parametrize(
    ("spec", "value", "ok"),
    [
        ({"a": 1}, {"a": 1, "b": 2}, True),
        ({"a": "any"}, {"a": None}, True),
        ({"a": "any"}, {}, False),
        ({"a": "absent"}, {}, True),
        ({"a": "absent"}, {"a": 1}, False),
        ({"a": {"regex": "^call_"}}, {"a": "call_12"}, True),
        ({"a": {"regex": "^call_"}}, {"a": "item_1"}, False),
        ({"n": {"gte": 1, "lt": 5}}, {"n": 4}, True),
        ({"n": {"gte": 1, "lt": 5}}, {"n": 5}, False),
        (
            {"l": {"contains": {"type": "input_text"}}},
            {"l": [{"type": "input_text", "text": "x"}]},
            True,
        ),
        ({"l": {"contains": 3}}, {"l": [1, 2]}, False),
        ({"l": [{"type": "x"}]}, {"l": [{"type": "x", "id": 1}]}, True),
    ],
)
def test_matchers(spec: dict[str, object], value: dict[str, object], ok: bool) -> None:
    assert (match(spec, value) == []) is ok


def test_a_mismatch_says_where_what_and_what_came() -> None:
    (found,) = match({"item": {"call_id": "call_1"}}, {"item": {"call_id": "call_2"}})
    assert str(found) == "item.call_id: expected 'call_1', got 'call_2'"


def test_get_path() -> None:
    event = {"item": {"content": [{"text": "hi"}]}}
    assert get_path(event, "item.content[0].text") == "hi"
    assert get_path(event, "item.content[3].text") is None


def test_templating_substitutes_and_generates() -> None:
    ids = iter(["item_a", "item_b"])
    out = render(
        {"id": "{{ new.item_id }}", "call": "{{ cid }}", "n": "{{ count }}", "s": "call {{ cid }}"},
        {"cid": "call_9", "count": 3},
        lambda kind: next(ids),
    )
    assert out == {"id": "item_a", "call": "call_9", "n": 3, "s": "call call_9"}


@pytest.mark.parametrize(
    "template",
    ["{{ __import__('os').system('x') }}", "{{ cid.upper() }}", "{{ 1 + 1 }}", "{{ cid | upper }}"],
)
def test_templating_never_evaluates(template: str) -> None:
    with pytest.raises(TemplateError, match="not a placeholder"):
        render(template, {"cid": "x"}, lambda kind: kind)


def test_unknown_names_are_errors_naming_them() -> None:
    with pytest.raises(TemplateError, match=r"unknown name 'nope'.*known: cid"):
        render("{{ nope }}", {"cid": "x"}, lambda kind: kind)


@given(st.text(max_size=40))
def test_templating_is_substitution_only(text: str) -> None:
    try:
        out = render(text, {"a": "A"}, lambda kind: "ID")
    except TemplateError:
        return
    assert isinstance(out, str)
    assert out == text.replace("{{ a }}", "A").replace("{{a}}", "A") or "{{" in text


@given(
    st.floats(min_value=0, max_value=1e6, allow_nan=False), st.sampled_from(["ms", "s", "m", "h"])
)
def test_durations_parse(value: float, unit: str) -> None:
    factor = {"ms": 0.001, "s": 1, "m": 60, "h": 3600}[unit]
    text = f"{value:.3f}{unit}"
    assert parse_duration(text) == pytest.approx(float(f"{value:.3f}") * factor)


# ---- safety: the exact messages ----------------------------------------------------------------


def test_fixture_escapes_and_object_tags_get_exact_messages(tmp_path: Path) -> None:
    folder = tmp_path / "inner"
    folder.mkdir()
    (tmp_path / "secret.wav").write_bytes(b"RIFF")
    os.symlink(tmp_path / "secret.wav", folder / "link.wav")
    scenario = folder / "s.yaml"
    advice = "keep fixtures beside the scenario, or name project fixtures as fixture:audio/NAME.wav"
    cases = {
        "../secret.wav": f"{scenario}:4:15: fixture path '../secret.wav' leaves the scenario's "
        f"folder {folder}: {advice} (at steps[0].respond.audio)",
        f"{tmp_path}/secret.wav": f"{scenario}:4:15: absolute fixture path "
        f"'{tmp_path}/secret.wav': use a path relative to the scenario "
        "(at steps[0].respond.audio)",
        "link.wav": f"{scenario}:4:15: fixture path 'link.wav' leaves the scenario's folder "
        f"{folder}: {advice} (at steps[0].respond.audio)",
    }
    for reference, message in cases.items():
        text = HEAD + f"steps:\n  - respond: {{audio: {reference}}}\n"
        assert problems_of(folder, text) == [message]
    for tag in ["!!python/object/apply:os.system [echo hi]", "!!python/name:os.system ''"]:
        (found,) = problems_of(folder, f"name: {tag}\n")
        full_tag = "tag:yaml.org,2002:" + tag[2:].split(" ")[0]
        assert found == (
            f"{scenario}:1:7: YAML tag '{full_tag}' is not allowed (scenarios are plain data: "
            "strings, numbers, lists and mappings)"
        )


@pytest.mark.parametrize(
    ("template", "message"),
    [
        ("{{ env.HOME }}", "unknown name 'env.HOME' in template (known: cid)"),
        ("{{ os.environ }}", "unknown name 'os.environ' in template (known: cid)"),
        (
            "{{ new.__class__ }}",
            "unknown generator 'new.__class__': use new.item_id, "
            "new.call_id, new.response_id, new.event_id",
        ),
        (
            "{{ __import__('os') }}",
            "'{{ __import__('os') }}' is not a placeholder: only names "
            "like {{ call_id }} or {{ new.item_id }} are substituted (no expressions)",
        ),
    ],
)
def test_templates_never_read_the_environment(template: str, message: str) -> None:
    with pytest.raises(TemplateError) as caught:
        render(f"home: {template}", {"cid": "x"}, lambda kind: kind)
    assert str(caught.value) == message


def test_close_idle_after_reaches_the_mount(tmp_path: Path) -> None:
    from mock_server.scenario.served import ServedScenario

    path = tmp_path / "idle.yaml"
    path.write_text(HEAD + "close_idle_after: 30s\n")
    assert ServedScenario(load_scenario(path)).mount().close_idle_after_s == 30.0
    assert "close_idle_after" in scenario_json_schema()["properties"]


def test_expected_client_audio_is_a_fixture_of_appends(tmp_path: Path) -> None:
    (found,) = problems_of(
        tmp_path, HEAD + "steps:\n  - expect: {type: input_audio_buffer.append, audio: me.wav}\n"
    )
    assert ":4:" in found and "fixture 'me.wav' not found" in found
    (wrong,) = problems_of(
        tmp_path, HEAD + "steps:\n  - expect: {type: response.create, audio: x}\n"
    )
    assert "audio: is for expect input_audio_buffer.append" in wrong


@pytest.mark.parametrize(("written", "read"), [("ga", "ga"), ("beta", "beta"), ("any", None)])
def test_the_dialect_is_read_as_the_one_dialect_type(written: str, read: str | None) -> None:
    from mock_server.protocol.events import Dialect
    from mock_server.scenario.loader import load_scenario_text

    scenario = load_scenario_text(HEAD + f"dialect: {written}\n").scenario
    assert scenario.dialect == (None if read is None else Dialect(read))
    assert load_scenario_text(HEAD).scenario.dialect is None  # any, by default


def test_a_dialect_that_is_none_of_the_three_is_a_problem_at_its_line() -> None:
    from mock_server.scenario.loader import load_scenario_text

    with pytest.raises(ScenarioError) as caught:
        load_scenario_text(HEAD + "dialect: gaa\n", "d.yaml")
    assert str(caught.value).startswith("d.yaml:3:")
    assert "dialect" in str(caught.value)


# ---- mcp_call ---------------------------------------------------------------------------------

MCP_HEAD = HEAD + "dialect: ga\nsteps:\n  - respond:\n      mcp_call:\n"


def test_an_mcp_call_loads_with_its_output_or_its_error(tmp_path: Path) -> None:
    path = tmp_path / "ok.yaml"
    path.write_text(
        MCP_HEAD
        + "        {server_label: docs, name: search, arguments: {q: x}, output: found}\n"
        + "      text: Found it.\n"
        + "  - respond:\n      items:\n"
        + "        - mcp_call: {server_label: docs, name: search, error: offline}\n"
        + "        - mcp_call:\n            server_label: docs\n            name: fetch\n"
        + "            error: {type: http_error, code: 404, message: gone}\n"
    )
    steps = load_scenario(path).scenario.steps
    assert steps[0].respond is not None and steps[0].respond.mcp_call is not None
    assert steps[0].respond.mcp_call.output == "found"
    items = steps[1].respond.items if steps[1].respond else None
    assert items is not None and items[0].mcp_call is not None
    assert items[0].mcp_call.item_error() == {"type": "tool_execution_error", "message": "offline"}
    assert items[1].mcp_call is not None
    assert items[1].mcp_call.item_error() == {"type": "http_error", "message": "gone", "code": 404}


@pytest.mark.parametrize(
    ("body", "line", "said"),
    [
        ("        {server_label: docs, name: search}\n", 6, "either its output or its error"),
        ("        {name: search, output: x}\n", 6, "missing field 'server_label'"),
        ("        {server_label: d, name: s, output: x, outptu: y}\n", 7, "unknown field 'outptu'"),
        (
            "        server_label: d\n        name: s\n"
            "        error: {type: http_error, message: m}\n",
            9,
            "needs its code",
        ),
    ],
)
def test_a_bad_mcp_call_is_a_problem_at_its_line(
    tmp_path: Path, body: str, line: int, said: str
) -> None:
    found = problems_of(tmp_path, MCP_HEAD + body)
    assert any(f"s.yaml:{line}:" in p and said in p for p in found), found


def test_an_mcp_call_with_a_function_call_is_refused(tmp_path: Path) -> None:
    (found,) = problems_of(
        tmp_path,
        MCP_HEAD + "        {server_label: d, name: s, output: x}\n"
        "      function_call: {name: get_weather}\n",
    )
    assert "use one of text/audio, function_call, function_calls, mcp_call or items" in found


@pytest.mark.parametrize(("dialect", "runs_in"), [("beta", "beta"), ("any", "both dialects")])
def test_an_mcp_call_outside_ga_is_a_problem_at_its_line(
    tmp_path: Path, dialect: str, runs_in: str
) -> None:
    text = MCP_HEAD.replace("dialect: ga", f"dialect: {dialect}")
    (found,) = problems_of(tmp_path, text + "        {server_label: d, name: s, output: x}\n")
    assert ":6:" in found and f"mcp_call is GA only, and this scenario runs in {runs_in}" in found
    assert "set dialect: ga" in found
