"""Reading scenario files within bounds: YAML bombs, deep nesting, huge files, odd YAML.

Each refusal is a :class:`ScenarioError` with file and line, never a traceback, a hang or
gigabytes. The time bounds asserted here are generous (the machine may be loaded): without the
bounds these loads take minutes or end in RecursionError.
"""

from __future__ import annotations

import contextlib
import time
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from mock_server.scenario.loader import (
    MAX_ALIASES,
    MAX_DEPTH,
    MAX_FILE_BYTES,
    ScenarioError,
    load_scenario,
    load_scenario_text,
)

HEAD = "name: x\ndescription: y\n"


def refusal(text: str, within: float = 1.0) -> str:
    started = time.monotonic()
    with pytest.raises(ScenarioError) as caught:
        load_scenario_text(text, "s.yaml")
    assert time.monotonic() - started < within
    (problem,) = caught.value.problems
    return str(problem)


def billion_laughs(levels: int = 9) -> str:
    lines = ["l0: &l0 [lol, lol, lol, lol, lol, lol, lol, lol, lol, lol]"]
    for n in range(1, levels):
        lines.append(f"l{n}: &l{n} [{', '.join([f'*l{n - 1}'] * 10)}]")
    return "\n".join(lines) + "\n"


def test_billion_laughs_is_refused_at_once() -> None:
    text = billion_laughs()
    assert len(text) < 1024
    found = refusal(text)
    assert found.startswith("s.yaml:5:") and "aliases expand to more than 100,000 values" in found


def test_too_many_aliases() -> None:
    text = "a: &a x\nb: [" + ", ".join(["*a"] * (MAX_ALIASES + 1)) + "]\n"
    assert f"more than {MAX_ALIASES:,} aliases" in refusal(text)


def test_a_few_aliases_are_fine() -> None:
    text = HEAD + (
        "steps:\n"
        "  - expect: &create {type: response.create}\n"
        "  - respond: &hi {text: hi}\n"
        "  - expect: *create\n"
        "  - respond: *hi\n"
    )
    assert len(load_scenario_text(text).scenario.steps) == 4


@pytest.mark.parametrize(
    "text", ["a: &a [*a]\n", "a: &a {b: *a}\n", "a: &a\n  - b: &b [*a]\n", "&a [*a]\n"]
)
def test_a_recursive_alias_is_a_problem_not_a_recursion_error(text: str) -> None:
    assert "recursive alias *a: the anchor is used inside itself" in refusal(text)


def test_an_undefined_alias() -> None:
    assert refusal("a: *nope\n").startswith("s.yaml:1:4: undefined alias *nope")


@pytest.mark.parametrize(
    "text",
    [
        "a: " + "[" * 10_000 + "]" * 10_000 + "\n",  # flow
        "a: " + "{b: " * 10_000 + "c" + "}" * 10_000 + "\n",
        "- " * 10_000 + "x\n",  # block sequences, nested on one line
        "".join(" " * n + f"k{n}:\n" for n in range(150)) + " " * 150 + "v\n",  # block mappings
        "a: " + "[" * 10_000 + "\n",  # never closed
        "a: " + "[a, " * 10_000 + "\n",
        "a: " + "[{a: " * 10_000 + "\n",
    ],
    ids=[
        "flow-sequences",
        "flow-mappings",
        "block-sequences",
        "block-mappings",
        "unclosed",
        "sequences-with-items",
        "sequences-of-mappings",
    ],
)
def test_deep_nesting_is_a_problem_not_a_recursion_error(text: str) -> None:
    found = refusal(text)
    assert f"nested deeper than {MAX_DEPTH} levels" in found
    assert found.startswith("s.yaml:")


def test_brackets_in_quotes_and_comments_are_not_nesting() -> None:
    text = (
        f"name: '{'[' * 500}'\n"
        f'description: "{{{"{" * 300}\\" {"[" * 200}"  # {"[" * 200}\n'
        f"steps: [{', '.join(['{drop: true}'] * 300)}]\n"
    )
    assert len(load_scenario_text(text).scenario.steps) == 300


def test_an_alias_cannot_nest_beyond_the_depth_either() -> None:
    deep = "[" * 60 + "x" + "]" * 60
    assert "nests the file deeper than 100 levels" in refusal(
        f"a: &a {deep}\nb: {'[' * 60}*a{']' * 60}\n"
    )


def test_nesting_within_the_bound_loads() -> None:
    arguments = "{a: " * 90 + "1" + "}" * 90
    text = HEAD + f"steps:\n  - respond: {{function_call: {{name: f, arguments: {arguments}}}}}\n"
    load_scenario_text(text)


def test_a_huge_file_is_refused_without_reading_it_all(tmp_path: Path) -> None:
    path = tmp_path / "huge.yaml"
    with path.open("wb") as out:
        out.write((HEAD + "description_long: '").encode())
        out.truncate(MAX_FILE_BYTES * 4)
    started = time.monotonic()
    with pytest.raises(ScenarioError) as caught:
        load_scenario(path)
    assert time.monotonic() - started < 1.0
    assert str(caught.value) == (
        f"{path}:1:1: the file is larger than 4 MiB, the most a scenario may be (keep audio in "
        "WAV fixtures; split long sessions into several scenarios)"
    )
    assert "larger than 4 MiB" in refusal("x" * (MAX_FILE_BYTES + 1))


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("? [a]\n: b\n", "a mapping key must be a plain value"),
        ("{[a]: b}\n", "a mapping key must be a plain value"),
        ("name: !!int abc\n", "'abc' is not a valid !!int"),
        ("name: !!timestamp soon\n", "'soon' is not a valid !!timestamp"),
        ("name: !!bool maybe\n", "'maybe' is not a valid !!bool"),
        ("n: " + "1" * 5000 + "\n", "is not a valid !!int"),
        ("a: 1\n---\nb: 2\n", "a scenario file holds one YAML document"),
        ('name: "\\ud800"\n', "a lone surrogate"),
        ("temperature: .nan\n", "'.nan' is not a finite number"),
        ("steps:\n  - n: -.inf\n", "'-.inf' is not a finite number"),
        ("a: !!set {x}\n", "YAML tag 'tag:yaml.org,2002:set' is not allowed"),
        ("a: !custom x\n", "YAML tag '!custom' is not allowed"),
        ("a: b\n\x01\n", "invalid YAML"),
    ],
)
def test_odd_yaml_is_a_problem(text: str, message: str) -> None:
    assert message in refusal(text)


YAMLISH = st.text(
    alphabet=st.sampled_from(list("[]{}&*!:-,?|>'\"#%@` \n\tab01.\\")) | st.characters(),
    max_size=200,
)


@given(YAMLISH)
def test_the_loader_raises_nothing_but_scenario_error(text: str) -> None:
    try:
        load_scenario_text(text, "fuzz.yaml")
    except ScenarioError as error:
        assert error.problems and all(p.file == "fuzz.yaml" for p in error.problems)


@given(st.lists(st.sampled_from(["&a ", "*a", "[", "]", "{", "}", "k: ", "- ", "\n", ", "])))
def test_anchors_and_brackets_in_any_order(parts: list[str]) -> None:
    with contextlib.suppress(ScenarioError):
        load_scenario_text("".join(parts), "fuzz.yaml")


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (HEAD + "Name: x\n", "s.yaml:3:1: unknown field 'Name' (at Name)"),
        (
            HEAD + "steps:\n  - Expect: x\n",
            "s.yaml:4:5: unknown field 'Expect' (at steps[0].Expect)",
        ),
        (HEAD + "'a[0]': x\n", "s.yaml:3:1: unknown field 'a[0]' (at a[0])"),
    ],
)
def test_a_key_spelled_like_a_union_member_is_still_named(text: str, message: str) -> None:
    assert refusal(text).startswith(message)
