"""What a scenario says, checked as a whole: event types, captures, how far its steps unroll.

The models (:mod:`mock_server.scenario.model`) say what each field may hold; these checks read
across fields. Every event type an ``expect``, ``wait``, rule or ``send`` names exists in the
scenario's dialect (a typo gets "did you mean"); every template names a capture that an earlier
step makes, or a generator; each connection's steps unroll within
:data:`~mock_server.scenario.model.MAX_UNROLLED_STEPS`. A :class:`Defect` is a path into the
scenario's data, a message and a hint; the loader adds the file and line. Scenarios built in
Python are checked with the same :func:`scenario_defects`.
"""

from __future__ import annotations

import difflib
from dataclasses import dataclass
from typing import Any

from mock_server.protocol.events import (
    BETA_SERVER_NAMES,
    CLIENT_EVENT_TYPES,
    SERVER_EVENT_TYPES,
    Dialect,
)
from mock_server.scenario.model import (
    MAX_UNROLLED_STEPS,
    Expect,
    Respond,
    Scenario,
    Step,
    WaitUntil,
    unrolled_size,
)
from mock_server.scenario.templating import ANY_BRACES, LITERAL_BRACES, NEW_IDS, PLACEHOLDER

Path_ = tuple[str | int, ...]
_NAMES = {Dialect.GA: "GA", Dialect.BETA: "beta", None: "GA or beta"}


@dataclass(frozen=True)
class Defect:
    """One thing wrong with a scenario, by its path in the scenario's data."""

    path: Path_
    message: str
    hint: str = ""


def client_types(dialect: Dialect | None) -> frozenset[str]:
    """The client event types a scenario of ``dialect`` (None: any) can expect."""
    if dialect is not None:
        return CLIENT_EVENT_TYPES[dialect]
    return CLIENT_EVENT_TYPES[Dialect.GA] | CLIENT_EVENT_TYPES[Dialect.BETA]


def server_types(dialect: Dialect | None) -> frozenset[str]:
    """The server event types a scenario of ``dialect`` can send: the dialect's own names, and
    for beta also the GA names that are renamed into beta ones on the way out."""
    ga, beta = SERVER_EVENT_TYPES[Dialect.GA], SERVER_EVENT_TYPES[Dialect.BETA]
    renamed = frozenset(name for name, wire in BETA_SERVER_NAMES.items() if wire in beta)
    if dialect is Dialect.GA:
        return ga
    if dialect is Dialect.BETA:
        return beta | renamed
    return ga | beta


def scenario_defects(scenario: Scenario) -> list[Defect]:
    """Everything these checks find in ``scenario``, in the order of the file."""
    found: list[Defect] = []
    lists: list[tuple[Path_, list[Step]]] = [(("steps",), scenario.steps)]
    for n, connection in enumerate(scenario.connections or []):
        if connection.steps is not None:
            lists.append((("connections", n, "steps"), connection.steps))
    # Rules fire at any moment, so they may use any capture a step makes (the runner keeps
    # them per connection; a capture not made yet is reported in the verdict when it fires).
    captured_anywhere: set[str] = set()
    for path, steps in lists:
        found += _unrolled(steps, path)
        captured_anywhere |= _walk(steps, path, set(), scenario.dialect, found)
    for n, rule in enumerate(scenario.rules):
        here: Path_ = ("rules", n)
        _event_type(
            rule.when.type,
            (*here, "when", "type"),
            client_types(scenario.dialect),
            "client",
            scenario.dialect,
            found,
        )
        _templates(rule.when.match, (*here, "when", "match"), captured_anywhere, found)
        _walk(rule.do, (*here, "do"), captured_anywhere, scenario.dialect, found)
    return found


def _unrolled(steps: list[Step], path: Path_) -> list[Defect]:
    if unrolled_size(steps) <= MAX_UNROLLED_STEPS:
        return []
    total = 0
    for index, step in enumerate(steps):
        total += unrolled_size([step])
        if total > MAX_UNROLLED_STEPS:
            return [
                Defect(
                    (*path, index),
                    f"the steps unroll to more than {MAX_UNROLLED_STEPS:,} steps",
                    "a repeat counts its steps times over, nested repeats multiply: loop in "
                    "the client, or split the scenario",
                )
            ]
    return []  # pragma: no cover - the sum of the parts is the whole


def _walk(
    steps: list[Step], path: Path_, known: set[str], dialect: Dialect | None, found: list[Defect]
) -> set[str]:
    """Check ``steps`` in order; return the captures made once they have run."""
    for index, step in enumerate(steps):
        here: Path_ = (*path, index)
        if step.expect is not None:
            _expect(step.expect, (*here, "expect"), known, dialect, found)
            known = known | set(step.expect.capture)
        elif step.respond is not None:
            _respond_templates(step.respond, (*here, "respond"), known, found)
            _mcp_dialect(step.respond, (*here, "respond"), dialect, found)
        elif step.send is not None:
            _event_type(
                str(step.send.get("type")),
                (*here, "send", "type"),
                server_types(dialect),
                "server",
                dialect,
                found,
            )
            _templates(step.send, (*here, "send"), known, found)
        elif isinstance(step.wait, WaitUntil):
            until = (*here, "wait", "until")
            _event_type(step.wait.until, until, client_types(dialect), "client", dialect, found)
        elif step.any_order is not None:
            made = set(known)
            for n, inner in enumerate(step.any_order):
                where: Path_ = (*here, "any_order", n)
                if inner.expect is None:
                    found.append(
                        Defect(
                            where,
                            f"any_order holds expects only; this step is a {inner.kind}",
                            "put it after the group",
                        )
                    )
                    continue
                # The group's expects come in any order: none may rely on another's capture.
                _expect(inner.expect, (*where, "expect"), known, dialect, found)
                made |= set(inner.expect.capture)
            known = made
        elif step.optional is not None:
            known = _walk(step.optional, (*here, "optional"), known, dialect, found)
        elif step.repeat is not None:
            # The first round sees only what came before the repeat.
            known = known | _walk(
                step.repeat.steps, (*here, "repeat", "steps"), known, dialect, found
            )
    return known


def _expect(
    expect: Expect, path: Path_, known: set[str], dialect: Dialect | None, found: list[Defect]
) -> None:
    # instead: true takes events the emulator refuses (a recorded refusal), so a type of the
    # other dialect is fine there.
    allowed = client_types(None if expect.instead else dialect)
    _event_type(expect.type, (*path, "type"), allowed, "client", dialect, found)
    _templates(expect.match, (*path, "match"), known, found)


def _event_type(
    value: str,
    path: Path_,
    allowed: frozenset[str],
    side: str,
    dialect: Dialect | None,
    found: list[Defect],
) -> None:
    if value in allowed:
        return
    every = client_types(None) if side == "client" else server_types(None)
    if value in every:
        message = f"{value!r} is not a {_NAMES[dialect]} {side} event (the scenario's dialect)"
        hint = "use dialect: any, or the event of this dialect"
        close = difflib.get_close_matches(value, sorted(allowed), n=1)
        if close:
            hint = f"did you mean {close[0]}?"
        found.append(Defect(path, message, hint))
        return
    close = difflib.get_close_matches(value, sorted(allowed), n=1)
    if close:
        hint = f"did you mean {close[0]}?"
    elif side == "client":
        hint = f"{_NAMES[dialect]} client events: {', '.join(sorted(allowed))}"
    else:
        hint = f"`realtime-mock schema` lists the {len(every)} server event types"
    found.append(Defect(path, f"unknown {side} event type {value!r}", hint))


def _respond_templates(respond: Respond, path: Path_, known: set[str], found: list[Defect]) -> None:
    outputs: list[tuple[Path_, Any]] = [(path, respond)]
    outputs += [((*path, "items", n), item) for n, item in enumerate(respond.items or [])]
    for where, output in outputs:
        for name in ("text", "transcript"):
            _templates(getattr(output, name), (*where, name), known, found)
        if output.function_call is not None:
            call = output.function_call
            _templates(call.arguments, (*where, "function_call", "arguments"), known, found)
        if output.mcp_call is not None:
            mcp = output.mcp_call
            _templates(mcp.arguments, (*where, "mcp_call", "arguments"), known, found)
            _templates(mcp.output, (*where, "mcp_call", "output"), known, found)
    for n, call in enumerate(respond.function_calls or []):
        _templates(call.arguments, (*path, "function_calls", n, "arguments"), known, found)


def _mcp_dialect(
    respond: Respond, path: Path_, dialect: Dialect | None, found: list[Defect]
) -> None:
    """MCP tools are GA's: a beta session refuses them, so a beta scenario's call cannot run."""
    if dialect is Dialect.GA:
        return
    outputs: list[tuple[Path_, Any]] = [(path, respond)]
    outputs += [((*path, "items", n), item) for n, item in enumerate(respond.items or [])]
    for where, output in outputs:
        if output.mcp_call is not None:
            runs_in = "beta" if dialect is Dialect.BETA else "both dialects (dialect: any)"
            found.append(
                Defect(
                    (*where, "mcp_call"),
                    f"mcp_call is GA only, and this scenario runs in {runs_in}: a beta "
                    "session has no MCP tools",
                    "set dialect: ga",
                )
            )


def _templates(value: Any, path: Path_, known: set[str], found: list[Defect]) -> None:
    """Check every placeholder in ``value`` (what :func:`~mock_server.scenario.templating.render`
    would substitute) against the captures ``known`` at this step."""
    stack: list[tuple[Any, Path_]] = [(value, path)]
    while stack:
        item, where = stack.pop()
        if isinstance(item, dict):
            stack += [(v, (*where, k)) for k, v in reversed(item.items())]
        elif isinstance(item, list):
            stack += [(v, (*where, i)) for i, v in reversed(list(enumerate(item)))]
        elif isinstance(item, str) and "{{" in item:
            for body in ANY_BRACES.findall(item):
                found += _placeholder(body, where, known)


def _placeholder(body: str, where: Path_, known: set[str]) -> list[Defect]:
    placeholder = PLACEHOLDER.fullmatch("{{" + body + "}}")
    if placeholder is None:
        return [
            Defect(
                where,
                f"'{{{{{body}}}}}' is not a placeholder",
                "only names like {{ call_id }} or {{ new.item_id }} are substituted "
                "(no expressions)",
            )
        ]
    name = placeholder.group(1)
    if name == LITERAL_BRACES or name in known:
        return []
    if name.startswith("new."):
        if name[4:] in NEW_IDS:
            return []
        return [Defect(where, f"unknown generator {name!r}", "use new." + ", new.".join(NEW_IDS))]
    hint = "captured before this step: " + (", ".join(sorted(known)) or "none")
    close = difflib.get_close_matches(name, sorted(known), n=1)
    if close:
        hint += f"; did you mean {close[0]!r}?"
    elif not known:
        hint += "; capture it with an earlier expect's capture: {NAME: dotted.path}"
    return [Defect(where, f"template names capture {name!r}, which no earlier step makes", hint)]
