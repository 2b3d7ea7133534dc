"""`realtime-mock lint` and `realtime-mock schema`: checking scenarios, the format's schema.

Lint reads files and folders (``*.yaml``, ``*.yml``, recursively) and prints one line a problem,
``file:line:column: message (at path) (hint)``, exiting 1 when there are any. It checks what
every load checks (:func:`~mock_server.scenario.loader.load_scenario`), so a file that lints
clean is one that ``serve``, ``run`` and the pytest fixture accept. The schema knows the same
event types (either dialect's) and bounds.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

from mock_server.scenario.loader import Problem, ScenarioError, load_scenario
from mock_server.scenario.model import Scenario


def scenario_files(paths: list[str]) -> list[Path]:
    files: list[Path] = []
    for name in paths:
        path = Path(name)
        if path.is_dir():
            files += sorted(p for p in path.rglob("*") if p.suffix in (".yaml", ".yml"))
        else:
            files.append(path)
    return files


def lint_paths(paths: list[str]) -> list[Problem]:
    """Every problem in the scenario files under ``paths``."""
    problems: list[Problem] = []
    for file in scenario_files(paths):
        try:
            load_scenario(file)
        except ScenarioError as error:
            problems += error.problems
    return problems


def lint_main(paths: list[str]) -> int:
    files = scenario_files(paths)
    if not files:
        print(f"realtime-mock lint: no .yaml files in {' '.join(paths)}", file=sys.stderr)
        return 1
    problems = lint_paths(paths)
    for problem in problems:
        print(problem)
    bad = len({p.file for p in problems})
    print(f"{len(files)} file(s) checked, {bad} with problems", file=sys.stderr)
    return 1 if problems else 0


def scenario_json_schema() -> dict[str, Any]:
    """The JSON Schema of the scenario format (for editors with a YAML language server)."""
    schema = Scenario.model_json_schema()
    schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    schema["title"] = "realtime-mock scenario"
    return schema


def schema_main(out: str | None) -> int:
    text = json.dumps(scenario_json_schema(), indent=2) + "\n"
    if out is None or out == "-":
        sys.stdout.write(text)
    else:
        Path(out).write_text(text)
        print(f"wrote {out}", file=sys.stderr)
    return 0
