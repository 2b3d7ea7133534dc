"""Docs that run: every fenced example in README.md and docs/*.md is executed.

The blocks are found afresh on every run, one test per block (its id is ``FILE:LINE``), so an
example added to the docs is tested without touching this file:

- ``yaml``: parsed; a scenario (or a fragment of one: a list of steps, or the top-level keys of
  a scenario) is loaded with the linter's rules, and a whole scenario that the reference client
  has a driver for (``harness.reference.DRIVERS``, by name) is played and must pass. Relative
  fixture files are the reader's own (a doc cannot ship them); ``fixture:`` ones must exist.
- ``python``: a block that defines ``test_`` functions runs under pytester (with the examples'
  agents importable, as in this repository's own suite); any other block runs as a script
  (top-level ``await`` allowed) against a mock on a free port, its ``127.0.0.1:8765`` replaced.
- ``sh``: every ``realtime-mock ...`` command line must parse with the CLI's own parser.

``<!-- skip-doc-test: why -->`` on the line before a fence skips that block, saying why.
Failures name the file and the line of the block's opening fence.
"""

from __future__ import annotations

import ast
import asyncio
import contextlib
import inspect
import io
import os
import re
import shlex
import shutil
import subprocess
import sys
import xml.etree.ElementTree as ET
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml

from harness.cli import build_parser
from harness.reference import DRIVERS, Context
from mock_server.scenario.loader import Problem, ScenarioError, load_scenario_text
from mock_server.scenario.served import ServedScenario
from mock_server.server import Mount, ThreadedMockServer
from tests.helpers import serving

pytest_plugins = ["pytester"]

ROOT = Path(__file__).resolve().parents[1]
DOCS = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
CI_EXAMPLE = ROOT / "examples" / "ci" / "realtime-mock.yml"
NODE_EXAMPLE = ROOT / "examples" / "node"
SERVE_PORT = "127.0.0.1:8765"  # what the docs' snippets connect to
SKIP = re.compile(r"<!--\s*skip-doc-test:\s*(?P<why>.+?)\s*-->")
FENCE = re.compile(r"^(?P<indent>\s*)(?P<fence>```+|~~~+)\s*(?P<lang>[\w+-]*)")
SCENARIO_KEYS = frozenset({"steps", "rules", "connections", "handshake", "passthrough"})
SHELL = frozenset({"sh", "bash", "shell", "console"})
# A relative fixture that is not there: in a doc, the reader's own file.
READERS_FIXTURE = re.compile(r"^fixture '(?!fixture:)[^']+' not found")


@dataclass(frozen=True)
class Block:
    """One fenced code block of a doc."""

    file: Path
    line: int  # of the opening fence, 1-based
    lang: str
    text: str
    skip: str | None

    @property
    def where(self) -> str:
        return f"{self.file.relative_to(ROOT)}:{self.line}"


def fenced_blocks(path: Path) -> list[Block]:
    """The fenced code blocks of a Markdown file, each with the line of its opening fence."""
    lines = path.read_text(encoding="utf-8").splitlines()
    blocks = []
    index = 0
    while index < len(lines):
        opening = FENCE.match(lines[index])
        if opening is None:
            index += 1
            continue
        fence, indent = opening["fence"], len(opening["indent"])
        before = next((s for s in reversed(lines[:index]) if s.strip()), "")
        skip = SKIP.search(before)
        body = []
        index += 1
        while index < len(lines) and not lines[index].strip().startswith(fence):
            body.append(lines[index][indent:] if lines[index][:indent].isspace() else lines[index])
            index += 1
        start = index - len(body)  # 1-based line of the fence is start (0-based body start)
        blocks.append(
            Block(
                path, start, opening["lang"].lower(), "\n".join(body) + "\n", skip and skip["why"]
            )
        )
        index += 1
    return blocks


BLOCKS = [block for doc in DOCS for block in fenced_blocks(doc)]


def _params(langs: frozenset[str]) -> list[Any]:
    return [
        pytest.param(
            block,
            id=block.where,
            marks=[pytest.mark.skip(reason=f"{block.where}: {block.skip}")] if block.skip else [],
        )
        for block in BLOCKS
        if block.lang in langs
    ]


# ---- yaml -------------------------------------------------------------------------------------


def _as_scenario(block: Block, data: Any) -> tuple[str, int, bool] | None:
    """The block as a whole scenario document, the lines added before it, and whether it was
    only a fragment; None when the YAML is not a scenario at all."""
    header = "name: doc_example\ndescription: An example from the docs.\n"
    if isinstance(data, list) and all(isinstance(step, dict) for step in data):
        indented = "".join(f"  {line}\n" for line in block.text.splitlines())
        return header + "steps:\n" + indented, 3, True
    if isinstance(data, dict) and (SCENARIO_KEYS & data.keys()):
        missing = [
            line for line in header.splitlines(keepends=True) if line.split(":")[0] not in data
        ]
        return "".join(missing) + block.text, len(missing), bool(missing)
    return None


async def _play(block: Block, loaded: Any) -> dict[str, Any]:
    """A whole scenario served, with the reference client's driver for its name."""
    name = loaded.scenario.name
    play = ServedScenario(loaded)
    async with serving(play.mount()) as server:
        dialect = "beta" if loaded.scenario.dialect == "beta" else "ga"
        await asyncio.wait_for(DRIVERS[name](Context(server.ws_url, dialect, scenario=name)), 60)
        await server.wait_for_sessions(at_most=0)
    return play.verdict().to_dict()


@pytest.mark.parametrize("block", _params(frozenset({"yaml", "yml"})))
def test_yaml_example(block: Block) -> None:
    try:
        data = yaml.safe_load(block.text)
    except yaml.YAMLError as exc:
        pytest.fail(f"{block.where}: the YAML does not parse: {exc}")
    document = _as_scenario(block, data)
    if document is None:
        return  # YAML, but not a scenario: parsing is all there is to check
    text, added, fragment = document
    try:
        loaded = load_scenario_text(text, block.where, ROOT / "scenarios")
    except ScenarioError as error:
        problems = [p for p in error.problems if not READERS_FIXTURE.match(p.message)]
        if problems:
            shown = [
                Problem(str(block.file.relative_to(ROOT)), block.line + p.line - added, p.column,
                        p.message, p.path, p.hint)
                for p in problems
            ]  # fmt: skip
            pytest.fail(
                f"{block.where}: the scenario does not lint:\n" + "\n".join(map(str, shown))
            )
        return
    if not fragment and loaded.scenario.name in DRIVERS:
        verdict = asyncio.run(_play(block, loaded))
        assert verdict["ok"], f"{block.where}: played with the reference client: {verdict}"


def test_a_library_scenario_shown_in_the_docs_is_the_library_s() -> None:
    # The README's pytest example runs the library scenario; the YAML shown under its name must
    # script the same (the call_id the example asserts, for one).
    from mock_server.scenario.loader import load_scenario, resolve_scenario

    for block in BLOCKS:
        if block.lang not in ("yaml", "yml") or block.skip:
            continue
        data = yaml.safe_load(block.text)
        if not (isinstance(data, dict) and "steps" in data and "name" in data):
            continue
        try:
            library = load_scenario(resolve_scenario(str(data["name"]))).scenario
        except ScenarioError:
            continue  # not a library name
        shown = load_scenario_text(block.text, block.where, ROOT / "scenarios").scenario
        assert shown.steps == library.steps, (
            f"{block.where}: the steps differ from scenarios/{data['name']}.yaml"
        )


# ---- python -----------------------------------------------------------------------------------


def _defines_tests(text: str) -> bool:
    return any(
        isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef) and node.name.startswith("test")
        for node in ast.walk(ast.parse(text))
    )


@pytest.mark.parametrize("block", _params(frozenset({"python", "py"})))
def test_python_example(
    block: Block, pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    try:
        ast.parse(block.text, block.where)
    except SyntaxError as exc:
        pytest.fail(f"{block.where}: not Python: {exc}")
    if _defines_tests(block.text):
        # As in this repository's suite: the examples' agents are importable.
        path = [str(ROOT), str(ROOT / "examples" / "voice_agent"), os.environ.get("PYTHONPATH")]
        monkeypatch.setenv("PYTHONPATH", os.pathsep.join(p for p in path if p))
        pytester.makepyfile(test_doc_example=block.text)
        result = pytester.runpytest_subprocess("-p", "no:cacheprovider", "--timeout=60")
        assert result.ret == 0, f"{block.where}: the pytest example fails:\n" + "\n".join(
            result.outlines[-40:]
        )
        return
    monkeypatch.chdir(pytester.path)  # files a snippet writes land in its own folder
    with ThreadedMockServer(port=0, default_mount=Mount(pace=0.0)) as server:
        code = block.text.replace(SERVE_PORT, f"127.0.0.1:{server.port}")
        compiled = compile(code, block.where, "exec", flags=ast.PyCF_ALLOW_TOP_LEVEL_AWAIT)
        namespace: dict[str, Any] = {"__name__": "__doc_example__"}
        with contextlib.redirect_stdout(io.StringIO()):
            result = eval(compiled, namespace)  # the doc's own code, as a reader would run it
            if inspect.iscoroutine(result):

                async def bounded() -> None:
                    await asyncio.wait_for(result, 30)

                asyncio.run(bounded())


# ---- shell ------------------------------------------------------------------------------------


def command_lines(text: str) -> list[list[str]]:
    """The simple commands of a shell block: continuations joined, comments and ``&&``, ``;``,
    ``|`` split off, leading ``NAME=value`` assignments dropped."""
    commands = []
    for line in text.replace("\\\n", " ").splitlines():
        tokens = shlex.split(line, comments=True)
        command: list[str] = []
        for token in [*tokens, ";"]:
            if token in ("&&", "||", ";", "|"):
                while command and re.match(r"^[A-Za-z_]\w*=", command[0]):
                    command.pop(0)
                if command:
                    commands.append(command)
                command = []
            else:
                command.append(token)
    return commands


def _check_parses(where: str, command: list[str]) -> None:
    errors = io.StringIO()
    try:
        with contextlib.redirect_stderr(errors), contextlib.redirect_stdout(io.StringIO()):
            build_parser().parse_args(command[1:])
    except SystemExit as exit:
        if exit.code:
            pytest.fail(f"{where}: `{shlex.join(command)}` does not parse: {errors.getvalue()}")


def _check_node_uses_tls(where: str, command: list[str]) -> None:
    # The openai npm package only connects over wss://: a Node client needs `run --tls`.
    if command[:2] == ["realtime-mock", "run"] and "--" in command:
        client = command[command.index("--") + 1 :]
        if client and Path(client[0]).name in ("node", "npm", "npx"):
            assert "--tls" in command[: command.index("--")], (
                f"{where}: `{shlex.join(command)}` runs a Node client without --tls"
            )


@pytest.mark.parametrize("block", _params(SHELL))
def test_shell_example(block: Block) -> None:
    for command in command_lines(block.text):
        if command[0] == "realtime-mock":
            _check_parses(block.where, command)
            _check_node_uses_tls(block.where, command)


def test_the_docs_have_examples_of_each_kind() -> None:
    # Guards the block finder itself: a broken one would make every test above vacuous.
    langs = {block.lang for block in BLOCKS if block.file.name == "README.md"}
    assert {"yaml", "python", "sh"} <= langs
    commands = [c for b in BLOCKS if b.lang in SHELL for c in command_lines(b.text)]
    assert sum(c[0] == "realtime-mock" for c in commands) >= 5


def test_a_bad_command_line_is_reported_with_its_place() -> None:
    with pytest.raises(pytest.fail.Exception, match=r"README\.md:7: `realtime-mock serve --nope`"):
        _check_parses("README.md:7", ["realtime-mock", "serve", "--nope"])


def test_blocks_are_found_with_their_lines_and_skips(tmp_path: Path) -> None:
    doc = tmp_path / "doc.md"
    doc.write_text(
        "# t\n\n```sh\nrealtime-mock demo\n```\n\n<!-- skip-doc-test: needs a key -->\n"
        "```python\nprint(1)\n```\n"
    )
    first, second = fenced_blocks(doc)
    assert (first.line, first.lang, first.text, first.skip) == (
        3,
        "sh",
        "realtime-mock demo\n",
        None,
    )
    assert (second.line, second.lang, second.skip) == (8, "python", "needs a key")


def test_shell_lines_are_split_into_commands() -> None:
    text = (
        "python3 -m pip install -e '.[test]' && realtime-mock demo   # comment\n"
        "OPENAI_API_KEY=sk-x realtime-mock run --tls \\\n    --scenario a -- node x.js\n"
    )
    assert command_lines(text) == [
        ["python3", "-m", "pip", "install", "-e", ".[test]"],
        ["realtime-mock", "demo"],
        ["realtime-mock", "run", "--tls", "--scenario", "a", "--", "node", "x.js"],
    ]


# ---- the architecture doc, the README's pointers ------------------------------------------


def test_the_architecture_doc_names_every_module() -> None:
    text = (ROOT / "docs" / "architecture.md").read_text(encoding="utf-8")
    missing = []
    for package in ("mock_server", "harness"):
        for module in sorted((ROOT / package).rglob("*.py")):
            if module.name == "__init__.py":
                continue
            name = module.relative_to(ROOT / package).as_posix()
            if f"`{name}`" not in text:
                missing.append(f"{package}/{name}")
    assert missing == [], f"docs/architecture.md does not say what these modules are for: {missing}"


def test_the_readme_points_inside_the_repository() -> None:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    assert "../shared" not in readme
    assert "docs/architecture.md" in readme.rstrip().split("\n\n")[-1]
    for target in re.findall(r"\]\(([^)#:]+)\)", readme):
        assert (ROOT / target).exists(), f"README.md links to {target}, which is not there"


# ---- the CI example ---------------------------------------------------------------------------


def _ci_steps() -> list[dict[str, Any]]:
    workflow = yaml.safe_load(CI_EXAMPLE.read_text(encoding="utf-8"))
    (job,) = workflow["jobs"].values()
    steps: list[dict[str, Any]] = job["steps"]
    return steps


def test_the_ci_example_installs_from_the_repository_sets_up_node_and_uses_tls() -> None:
    steps = _ci_steps()
    uses = [step.get("uses", "").split("@")[0] for step in steps]
    assert "actions/setup-node" in uses
    runs = [command for step in steps for command in command_lines(step.get("run", ""))]
    assert ["pip", "install", "."] in runs  # this repository, not a package index
    assert ["npm", "ci", "--prefix", "examples/node"] in runs
    (run,) = [c for c in runs if c[:2] == ["realtime-mock", "run"]]
    assert "--tls" in run
    _check_parses(f"{CI_EXAMPLE.relative_to(ROOT)}", run)
    client = run[run.index("--") + 1 :]
    assert (ROOT / client[-1]).is_file(), f"the CI example runs {client}, which is not there"


@pytest.mark.skipif(shutil.which("node") is None, reason="node is not installed")
@pytest.mark.skipif(
    not (NODE_EXAMPLE / "node_modules" / "openai").is_dir(),
    reason="the example's npm packages are not installed: npm ci --prefix examples/node",
)
def test_the_ci_example_scenarios_step_passes_as_written(tmp_path: Path) -> None:
    (step,) = [s for s in _ci_steps() if "realtime-mock run" in s.get("run", "")]
    (command,) = command_lines(step["run"])
    junit = tmp_path / "realtime-mock.xml"
    command[command.index("--junit-xml") + 1] = str(junit)
    # `realtime-mock` as this checkout's code (the console script may be another install's).
    result = subprocess.run(
        [sys.executable, "-m", "harness.cli", *command[1:]],
        capture_output=True,
        text=True,
        timeout=180,
        cwd=ROOT,
    )
    assert result.returncode == 0, f"{CI_EXAMPLE}:\n{result.stdout}\n{result.stderr}"
    suite = ET.parse(junit).getroot()
    assert suite.get("failures") == "0" and int(suite.get("tests") or 0) >= 2


def test_a_yaml_fragment_s_problem_is_reported_at_its_line_in_the_doc() -> None:
    fragment = "- expect: response.create\n- bogus: 1\n"
    block = Block(ROOT / "docs" / "example.md", 10, "yaml", fragment, None)
    with pytest.raises(pytest.fail.Exception, match=r"docs/example\.md:12:\d+: .*bogus"):
        test_yaml_example(block)
