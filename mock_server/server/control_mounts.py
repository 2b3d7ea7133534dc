"""The control API's mounts: a scenario posted as YAML or JSON (or a library name) with its
options, served under a prefix of its own, and what it holds for the API to report.

:func:`read_mount_request` turns the body and query of ``POST /_mock/mounts`` into a
:class:`MountRequest` (the scenario loaded and checked as a file is, the options applied as the
pytest fixture applies its own); every problem is a :class:`ControlError` saying what and where
(the YAML's line, the JSON's dotted path, "did you mean" for a library name). A
:class:`ControlMount` is one mount served: its :class:`~mock_server.scenario.served.ServedScenario`,
the connections it has had (the open ones on the server, the ended ones kept here, bounded), and
its verdict once its connections have settled.
"""

from __future__ import annotations

import asyncio
import difflib
import json
import re
import time
from collections import deque
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from mock_server import resources
from mock_server.protocol.events import Dialect
from mock_server.protocol.http import HttpRequest
from mock_server.scenario.builder import scenario_from_dict
from mock_server.scenario.compile import DEFAULT_TIMEOUT
from mock_server.scenario.loader import (
    LIBRARY,
    LoadedScenario,
    ScenarioError,
    library,
    load_scenario,
    load_scenario_text,
)
from mock_server.scenario.model import Handshake, Scenario, parse_dialect
from mock_server.scenario.runner import ScenarioRunner
from mock_server.scenario.served import ServedScenario
from mock_server.scenario.verdict import ScenarioVerdict
from mock_server.server.connection import Connection
from mock_server.server.control_errors import PREFIX_ROOT, ControlError
from mock_server.server.mount import Mount
from mock_server.units import parse_duration, parse_pace

# What the options of a mount are (the JSON body's fields beside the scenario, or the query's).
OPTIONS = ("id", "dialect", "pace", "time_scale", "timeout", "seed", "strict", "api_key")
_BODY_FIELDS = ("scenario", "library", *OPTIONS)
JSON_TYPES = ("application/json",)
YAML_TYPES = ("application/yaml", "application/x-yaml", "text/yaml", "text/x-yaml")
# A letter or digit first: an id such as ".." would make a URL that clients normalise away.
MOUNT_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,63}")
# Ended connections (with their transcripts) a mount keeps for the API; older ones are dropped.
MAX_KEPT_CONNECTIONS = 32
# Beyond a scenario's longest bound: how long a verdict waits for the connections to settle.
SETTLE_MARGIN_S = 3.0
MAX_WAIT_S = 120.0
_POLL_S = 0.01


@dataclass
class MountRequest:
    """What ``POST /_mock/mounts`` asked for, read and checked."""

    loaded: LoadedScenario
    scripted: bool  # False: no scenario, the canned model (only the client's mistakes judged)
    id: str | None = None
    strict: bool = False


def media_type(request: HttpRequest) -> str:
    return request.headers.get("Content-Type", "").split(";")[0].strip().lower()


def read_mount_request(request: HttpRequest, folder: Path) -> MountRequest:
    """The scenario and options of a ``POST /_mock/mounts``; relative fixture paths resolve in
    ``folder``. Raises :class:`ControlError` (400, 415) naming the problem and where it is."""
    options: dict[str, Any] = {k: v[-1] for k, v in request.query.items()}
    unknown = [k for k in options if k not in (*OPTIONS, "library")]
    if unknown:
        raise _unknown_field(unknown[0], (*OPTIONS, "library"), "query parameter")
    kind = media_type(request)
    scenario: Any = None
    source = "body"
    text = _text(request.body) if request.body.strip() else ""
    if not text:
        pass
    elif kind in YAML_TYPES:
        scenario = text
    elif kind in JSON_TYPES:
        envelope = _json_object(text)
        unknown = [k for k in envelope if k not in _BODY_FIELDS]
        if unknown:
            raise _unknown_field(unknown[0], _BODY_FIELDS, "field")
        for name, value in envelope.items():
            if name in options:
                raise ControlError(400, f"{name!r} is given twice: in the query and the body")
            if name != "scenario":
                options[name] = value
        scenario, source = envelope.get("scenario"), "scenario"
    else:
        raise ControlError(
            415,
            "a scenario is sent as JSON (Content-Type: application/json) or YAML "
            f"(Content-Type: application/yaml), not {kind!r}"
            if kind
            else "a body needs its Content-Type: application/json or application/yaml",
            code="unsupported_media_type",
        )
    name = options.pop("library", None)
    if name is not None and scenario is not None:
        raise ControlError(400, "give a scenario or a library name, not both", param="library")
    if name is not None:
        loaded, scripted = _library_scenario(name), True
    elif scenario is not None:
        loaded, scripted = _posted_scenario(scenario, source, folder), True
    else:
        loaded = LoadedScenario(scenario_from_dict({}, "canned model"), "canned model", folder)
        scripted = False
    return _with_options(loaded, scripted, options)


def _text(body: bytes) -> str:
    try:
        return body.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ControlError(400, f"the body is not UTF-8 text: {exc.reason}") from None


def _json_object(text: str) -> dict[str, Any]:
    try:
        value = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ControlError(
            400, f"the body is not JSON: {exc.msg} at line {exc.lineno}, column {exc.colno}"
        ) from None
    if not isinstance(value, dict):
        raise ControlError(400, 'the body is a JSON object: {"scenario": ..., "pace": ...}')
    return value


def _unknown_field(name: str, known: tuple[str, ...], what: str) -> ControlError:
    if what == "field" and name in Scenario.model_fields and name not in known:
        return ControlError(
            400,
            f'{name!r} is a field of the scenario: send {{"scenario": {{"{name}": ...}}}}, '
            'with the options beside "scenario"',
            param=name,
        )
    close = difflib.get_close_matches(name, known, n=1)
    hint = f"did you mean {close[0]!r}?" if close else f"known: {', '.join(known)}"
    if what == "field" and not close:
        hint += " (the scenario itself goes under 'scenario')"
    return ControlError(400, f"unknown {what} {name!r}: {hint}", param=name)


def _library_scenario(name: Any) -> LoadedScenario:
    names = library()
    # Only a name of the library: never a path, which would read the server's own files.
    if not isinstance(name, str) or name not in names:
        close = difflib.get_close_matches(str(name), names, n=3)
        hint = f"did you mean {', '.join(close)}?" if close else f"known: {', '.join(names)}"
        raise ControlError(
            400, f"no library scenario named {name!r}: {hint}", param="library", code="unknown"
        )
    return _loaded(lambda: load_scenario(LIBRARY / f"{name}.yaml"), by_line=True)


def _posted_scenario(scenario: Any, source: str, folder: Path) -> LoadedScenario:
    if isinstance(scenario, str):  # YAML (or JSON) text
        return _loaded(lambda: load_scenario_text(scenario, source, folder), by_line=True)
    if isinstance(scenario, dict):
        # The loader's checks, on the object's JSON (YAML's subset): its problems are named by
        # their dotted path, the lines of a text the client never wrote being no help.
        text = json.dumps({"name": "posted", "description": "Posted as JSON.", **scenario})
        return _loaded(lambda: load_scenario_text(text, source, folder), by_line=False)
    raise ControlError(
        400,
        f"'scenario' is an object (the scenario as JSON) or a string (YAML), "
        f"not {type(scenario).__name__}",
        param="scenario",
    )


def _loaded(load: Any, *, by_line: bool) -> LoadedScenario:
    try:
        loaded: LoadedScenario = load()
    except ScenarioError as error:
        problems = [
            {"line": p.line, "column": p.column, "path": p.path, "message": p.message}
            | ({"hint": p.hint} if p.hint else {})
            for p in error.problems
        ]
        if by_line:
            lines = [str(p) for p in error.problems]
        else:
            lines = [
                f"scenario.{p.path}: {p.message}" + (f" ({p.hint})" if p.hint else "")
                if p.path
                else p.message
                for p in error.problems
            ]
        count = len(lines)
        raise ControlError(
            400,
            f"the scenario has {count} problem{'s' if count > 1 else ''}:\n" + "\n".join(lines),
            param="scenario",
            code="invalid_scenario",
            problems=[] if not by_line else problems,
        ) from None
    return loaded


def _with_options(loaded: LoadedScenario, scripted: bool, options: dict[str, Any]) -> MountRequest:
    scenario = loaded.scenario
    update: dict[str, Any] = {}
    strict = False
    try:
        for name, value in options.items():
            if name == "dialect":
                dialect = parse_dialect(value)
                if dialect is not None and not isinstance(dialect, Dialect):
                    raise ValueError(f"{value!r} is not a dialect: use ga, beta or any")
                update["dialect"] = dialect
            elif name == "pace":
                parse_pace(str(value))
                update["pace"] = str(value)
            elif name == "time_scale":
                scale = float(value)
                if not scale > 0:
                    raise ValueError("time_scale is a number above 0")
                update["time_scale"] = scale
            elif name == "timeout":
                update["timeout"] = parse_duration(value)
            elif name == "seed":
                if not isinstance(value, str | int) or isinstance(value, bool):
                    raise ValueError("a seed is a string or an integer")
                update["seed"] = value
            elif name == "api_key":
                if not isinstance(value, str) or not value:
                    raise ValueError("api_key is a non-empty string")
                given = scenario.handshake.model_dump(exclude_unset=True)
                update["handshake"] = Handshake(**{**given, "require_key": value})
            elif name == "strict":
                strict = _flag(value)
                if strict:
                    update["unexpected"] = "fail"
            elif name == "id" and (not isinstance(value, str) or not MOUNT_ID.fullmatch(value)):
                raise ValueError(
                    "an id is 1 to 64 letters, digits, '_', '.' or '-', a letter or digit first"
                )
    except (TypeError, ValueError) as exc:
        raise ControlError(400, f"option {name}: {exc}", param=name) from None
    if scenario.timeout is None and "timeout" not in update:
        update["timeout"] = DEFAULT_TIMEOUT
    composed = scenario.model_copy(update=update)
    return MountRequest(
        replace(loaded, scenario=composed),
        scripted,
        id=options.get("id"),
        strict=strict,
    )


def _flag(value: Any) -> bool:
    if isinstance(value, bool):
        return value
    if str(value).lower() in ("true", "1", "yes"):
        return True
    if str(value).lower() in ("false", "0", "no"):
        return False
    raise ValueError(f"{value!r} is not true or false")


def fixtures_folder(request: HttpRequest, local: bool) -> Path:
    """Where a posted scenario's relative fixture paths resolve: the server's working folder
    for a client on this machine, the project's fixtures for any other (no file of the
    server's own is another machine's to play)."""
    return Path.cwd() if local else resources.FIXTURES


@dataclass
class ControlMount:
    """One mount the control API serves: the scenario, its connections, its verdict."""

    id: str
    served: ServedScenario
    mount: Mount
    scripted: bool
    strict: bool
    created: float = field(default_factory=time.time)
    ended: deque[Connection] = field(default_factory=lambda: deque(maxlen=MAX_KEPT_CONNECTIONS))

    @classmethod
    def serve(cls, id_: str, asked: MountRequest) -> ControlMount:
        seed = asked.loaded.scenario.seed
        loaded = asked.loaded
        if seed is None:  # the same ids on every run of the same test
            loaded = replace(loaded, scenario=loaded.scenario.model_copy(update={"seed": id_}))
        served = ServedScenario(loaded, f"{PREFIX_ROOT}/{id_}")
        mount = served.mount()
        if not asked.scripted:
            mount.any_model = False  # the canned model refuses unknown models, as live does
        return cls(id_, served, mount, asked.scripted, asked.strict)

    def connections(self, live: list[Connection]) -> list[Connection]:
        """Every connection kept, oldest first: the ended ones, then those still open."""
        ended = list(self.ended)
        seen = {id(c) for c in ended}  # by identity: a connection's equality compares it whole
        return ended + [c for c in live if c.mount is self.mount and id(c) not in seen]

    def settled(self, connections: list[Connection]) -> bool:
        """Whether no connection waits for its client any more (ended, or nothing to wait for)."""
        for connection in connections:
            if connection.ended:
                continue
            script = connection.session.script if connection.session is not None else None
            if not isinstance(script, ScenarioRunner) or script.waiting():
                return False
        return True

    def settle_bound(self) -> float:
        scenario = self.served.scenario
        longest = scenario.timeout if scenario.timeout is not None else DEFAULT_TIMEOUT
        for runner in list(self.served.runners):
            for node in runner.nodes:
                for expect in node.expects:
                    if expect.within is not None:
                        longest = max(longest, expect.within / scenario.time_scale)
        return longest + SETTLE_MARGIN_S

    async def settle(self, live: Any, wait: float | None) -> bool:
        """Wait, at most ``wait`` seconds (default: the scenario's longest bound and a margin),
        for the connections to settle; whether they did. ``live()`` lists the server's."""
        bound = min(self.settle_bound() if wait is None else wait, MAX_WAIT_S)
        deadline = time.monotonic() + bound
        while not self.settled(self.connections(live())):
            if time.monotonic() >= deadline:
                return False
            await asyncio.sleep(_POLL_S)
        return True

    def verdict(self, connections: list[Connection]) -> ScenarioVerdict:
        if self.scripted:
            verdict = self.served.verdict()
        else:
            findings = [f for c in connections for f in c.transcript.findings()]
            verdict = ScenarioVerdict(
                scenario=None,
                findings=tuple(f"{f.kind}: {f.message}" for f in findings if f.severity == "error"),
                warnings=tuple(
                    f"{f.kind}: {f.message}" for f in findings if f.severity == "warning"
                ),
            )
        if self.strict and verdict.warnings:
            verdict = replace(verdict, findings=(*verdict.findings, *verdict.warnings))
        return verdict
