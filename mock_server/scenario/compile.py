"""Compiling a scenario's steps into the flat list of nodes a runner walks.

Groups are unrolled here, once per connection: ``repeat`` repeats its steps, ``optional``
marks the expects it holds as skippable (an event that does not match one is then tried on the
step after the group), ``any_order`` becomes one node of expects satisfied in any order. A
``wait`` for a duration holds the script; a ``wait`` until an event is an expect. Each node
carries the label a verdict names it by.
"""

from __future__ import annotations

import itertools
import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

from mock_server.scenario.model import (
    MAX_UNROLLED_STEPS,
    Expect,
    Respond,
    Scenario,
    Step,
    unrolled_size,
)

# The nodes that wait for the client, and so are bounded.
# The bound, in real seconds, on an expectation that sets no `within` (the scenario's `timeout`
# overrides it): a test tool must never wait forever for a client that will not send.
DEFAULT_TIMEOUT = 10.0
# A respond waiting while the client talks gets this much extra time at most (the audio it
# streams meanwhile), so that even a microphone streaming forever is bounded.
MAX_TALK_S = 300.0
BOUNDED = ("expect", "any_order", "respond")


@dataclass
class Node:
    """One step of the flat list a runner walks; ``kind`` says what it waits for, if anything.

    ``remaining`` and ``heard_ms`` are the node's progress (a runner's own: each connection
    compiles its steps afresh).
    """

    kind: str  # expect | any_order | respond | action | wait
    label: str
    step: Step | None = None
    expects: list[Expect] = field(default_factory=list)
    optional: bool = False
    seconds: float = 0.0
    remaining: list[Expect] | None = None  # any_order: the expects still to come
    heard_ms: float = 0.0  # an audio expect: how much of its speech has come


def describe(step: Step) -> str:
    """The label a verdict names a step by (``expect response.create {...}``)."""
    kind = step.kind
    value = getattr(step, kind)
    if kind == "expect":
        assert isinstance(value, Expect)
        fields = f" {json.dumps(value.match)}" if value.match else ""
        if value.audio is not None:
            fields = f" (the audio of {value.audio})"
        return f"expect {value.type}{fields}"
    if kind == "respond":
        assert isinstance(value, Respond)
        shown = value.model_dump(exclude_defaults=True, exclude_none=True)
        return f"respond {json.dumps(shown)[:80]}"
    return kind


def compile_steps(steps: list[Step]) -> list[Node]:
    """Steps as a flat list of nodes (groups unrolled); raises ValueError beyond
    :data:`~mock_server.scenario.model.MAX_UNROLLED_STEPS`.

    The loader refuses such scenarios; this bound holds for any built in Python too, since a
    runner unrolls on the server's event loop. Iterative, so that deep nesting cannot overflow.
    """
    size = unrolled_size(steps)
    if size > MAX_UNROLLED_STEPS:
        raise ValueError(
            f"the steps unroll to more than {MAX_UNROLLED_STEPS:,} steps (a repeat counts its "
            "steps times over): nothing is played"
        )
    nodes: list[Node] = []
    # Each entry: the steps still to unroll at that level, and whether they are optional.
    pending: list[tuple[Iterator[Step], bool]] = [(iter(steps), False)]
    while pending:
        level, optional = pending[-1]
        step = next(level, None)
        if step is None:
            pending.pop()
        elif step.repeat is not None:
            if step.repeat.steps:  # an empty body adds nothing, however often
                rounds = itertools.repeat(step.repeat.steps, max(step.repeat.times, 0))
                pending.append((itertools.chain.from_iterable(rounds), optional))
        elif step.optional is not None:
            pending.append((iter(step.optional), True))
        else:
            node = _compile_one(step)
            node.optional = optional and node.kind == "expect"
            nodes.append(node)
    return nodes


def _compile_one(step: Step) -> Node:
    if step.expect is not None:
        return Node("expect", describe(step), step, [step.expect])
    if step.respond is not None:
        return Node("respond", describe(step), step)
    if step.any_order is not None:
        expects = [s.expect for s in step.any_order if s.expect is not None]
        label = "any order: " + ", ".join(e.type for e in expects)
        return Node("any_order", label, step, expects)
    if step.wait is not None:
        if isinstance(step.wait, float | int):
            return Node("wait", f"wait {step.wait:g}s", step, seconds=float(step.wait))
        expect = Expect(type=step.wait.until, within=step.wait.within)
        return Node("expect", f"wait until {step.wait.until}", step, [expect])
    return Node("action", step.kind, step)


def satisfied_by(
    nodes: list[Node], cursor: int, matches: Callable[[Expect], bool]
) -> tuple[int, Node, Expect] | None:
    """Which expect a client event satisfies: at ``cursor``, or past the optional expects that
    follow it; an ``any_order`` node offers each expect it still waits for. Returns the node's
    index, the node and the expect (``matches`` is asked in order, and no more than needed)."""
    index = cursor
    while index < len(nodes):
        node = nodes[index]
        if node.kind == "any_order":
            if node.remaining is None:
                node.remaining = list(node.expects)
            found = next((e for e in node.remaining if matches(e)), None)
            return None if found is None else (index, node, found)
        if node.kind != "expect":
            return None
        expect = node.expects[0]
        if expect.audio is None and matches(expect):
            return index, node, expect
        if not node.optional:
            return None
        index += 1
    return None


__all__ = ["BOUNDED", "Node", "compile_steps", "describe", "satisfied_by"]


def first_required(nodes: list[Node], cursor: int) -> Node | None:
    """The first node from ``cursor`` on that waits for the client and is not optional."""
    for node in nodes[cursor:]:
        if node.kind in BOUNDED and not node.optional:
            return node
    return None


def wait_bound(
    node: Node, scenario: Scenario, audio_ms: float, talked_ms: float
) -> tuple[float, str]:
    """How long (in session time) ``node`` may wait, and the finding if it waits longer.

    A step's own ``within`` is in scenario time; the default is in real seconds (the
    scenario's ``timeout``, else :data:`DEFAULT_TIMEOUT`), converted with ``time_scale`` so
    that a scaled scenario does not fail a client in milliseconds. An audio expect gets the
    time to stream its ``audio_ms`` live; a respond, the audio the client streamed meanwhile
    (``talked_ms``, at most :data:`MAX_TALK_S`).
    """
    limits = [e.within for e in (node.expects or []) if e.within is not None]
    if limits:
        return min(limits), f"not within {min(limits):g}s"
    timeout = scenario.timeout if scenario.timeout is not None else DEFAULT_TIMEOUT
    extra = audio_ms / 1000
    if node.kind == "respond":
        extra = min(talked_ms / 1000, MAX_TALK_S)
    why = f"not within {timeout:g}s (default timeout)"
    if node.kind == "respond":
        why = f"the client did not ask for this response within {timeout:g}s (default timeout)"
    return (timeout + extra) * scenario.time_scale, why
