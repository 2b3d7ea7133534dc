"""Playing a scenario on a session: the step runner (a :class:`~mock_server.session.Script`).

Steps run in order. An ``expect`` waits for the next client event of its type whose fields
match (events of other types pass by, and are recorded when the scenario's ``unexpected`` says
so); a ``respond`` is the plan of the next response the session makes, whoever asked for it;
after a ``respond`` the following steps wait until that response is done. Faults and raw sends
run at once; ``wait`` holds the script. Rules react to any matching client event at any time.

The steps are compiled into a flat list of nodes (:mod:`~mock_server.scenario.compile`: groups
unrolled), rules fire through :mod:`~mock_server.scenario.rules`, faults and raw sends through
:func:`~mock_server.scenario.actions.perform`, responses are planned by
:mod:`~mock_server.scenario.plans`.

When the connection ends, :meth:`ScenarioRunner.verdict` (a
:class:`~mock_server.scenario.verdict.ConnectionVerdict`) says which steps were satisfied, which
expectations were not met (and what came instead), what came unexpected, and the client's
protocol mistakes that the session noted.
"""

from __future__ import annotations

import threading
from typing import Any

from mock_server import audio
from mock_server.protocol.errors import RealtimeError
from mock_server.responder import ResponsePlan, ResponseRequest
from mock_server.scenario.actions import perform
from mock_server.scenario.compile import (
    BOUNDED,
    Node,
    compile_steps,
    first_required,
    satisfied_by,
    wait_bound,
)
from mock_server.scenario.loader import LoadedScenario
from mock_server.scenario.matchers import get_path
from mock_server.scenario.model import EventMatch, Expect, Rule, Step
from mock_server.scenario.plans import ResponsePlans, failed_plan, mcp_tools
from mock_server.scenario.rules import RuleBook, event_matches
from mock_server.scenario.templating import TemplateError, render
from mock_server.scenario.verdict import ConnectionVerdict, Unexpected, Unmet
from mock_server.session import Session
from mock_server.session.transcription import Transcribed
from mock_server.transcript import Finding

NOISE = frozenset({"input_audio_buffer.append"})
STEPS_PER_RUN = 100
# The close after an unmet expectation: the client learns at once that the script has failed.
# 4000 with a `<type>.<code>` reason is how the live service ends a session it refuses, so a
# client treats it as fatal (not 1001, which a reconnecting client would retry).
UNMET_CLOSE = 4000
UNMET_REASON = "invalid_request_error.realtime_mock_expectation_unmet"


def _close_reason(text: str) -> str:
    """``text`` cut to the 123 bytes a close frame's reason may hold."""
    data = text.encode()
    return text if len(data) <= 123 else data[:120].decode(errors="ignore") + "..."


class ScenarioRunner:
    """One connection's run of a scenario."""

    def __init__(self, loaded: LoadedScenario, steps: list[Step], connection: int = 1) -> None:
        self.loaded = loaded
        self.scenario = loaded.scenario
        self.connection = connection
        self.cursor = 0
        self.captures: dict[str, Any] = {}
        self.satisfied: list[str] = []
        self.unmet: list[Unmet] = []
        self.unexpected: list[Unexpected] = []
        self.problems: list[str] = []
        try:
            self.nodes = compile_steps(steps)
        except ValueError as exc:  # a scenario built past the loader's bounds
            self.nodes = []
            self.problems.append(str(exc))
        self.session: Session | None = None
        self._findings: list[Finding] = []  # the session's, kept when it is detached
        self._now = 0.0
        self._started: float | None = None  # when the current node began waiting
        self._seen_since: list[str] = []
        self._after_response = False
        self._wait_until: float | None = None
        self.rules = RuleBook(self.scenario.rules)
        self.plans = ResponsePlans(loaded, self.captures, self._new_id)
        # Audio an audio expect still waits for after a response began before it was complete
        # (the service answered mid-stream); the appends that follow pay it off first.
        self._owed_ms = 0.0
        self._talked_ms = 0.0  # audio the client streamed while a respond waits for its ask
        self.stopped = False
        # Set when the run gives up on an expectation (what tests and harnesses wait on).
        self.finished = threading.Event()

    # ---- Script --------------------------------------------------------------------------

    def attach(self, session: Session, now: float) -> None:
        self.session = session
        session.responses.mcp.declare(mcp_tools(self.loaded.scenario))
        self._now = now
        self._run(now)

    def on_client_event(self, event: dict[str, Any], now: float) -> bool:
        self._now = now
        handled = self._apply_rules(event)
        if self.stopped or self.cursor >= len(self.nodes):
            self._note_unexpected(event, handled)
            return handled
        node = self._current()
        if node is not None and node.kind == "respond" and event.get("type") in NOISE:
            self._talked_ms += self._heard(event)
        consumed = self._consume(event)
        if consumed is not None:
            # The steps that follow run at the next poll: after the emulator's own answer to
            # this event (unless the expect answers instead), as on the live service.
            handled = handled or consumed.instead
        else:
            self._seen_since.append(str(event.get("type")))
            self._note_unexpected(event, handled)
        return handled

    def detach(self) -> None:
        if self.session is not None:
            self._findings = self.session.findings
            self.session = None

    def on_rejected_event(self, event: dict[str, Any], now: float) -> bool:
        """Only an expect with ``instead`` takes an event the emulator would refuse."""
        self._now = now
        node = self._current()
        if self.stopped or node is None or node.kind != "expect":
            return False
        expect = node.expects[0]
        if not expect.instead or expect.audio is not None or not self._matches(expect, event):
            return False
        self._capture(expect, event)
        self._advance(node)
        return True

    def plan_response(self, request: ResponseRequest) -> ResponsePlan | None:
        node = self._current()
        if self._hearing(node) and not self._after_response:
            # Server VAD answered before all of the turn's audio came (the recording closed
            # the turn a few appends late): the rest of the audio is owed, the plan is next.
            assert node is not None
            following = self.nodes[self.cursor + 1] if self.cursor + 1 < len(self.nodes) else None
            if following is not None and following.kind == "respond":
                self._owed_ms = max(0.0, self._audio_ms(node.expects[0]) - node.heard_ms)
                self._advance(node)
                node = following
        if node is None or node.kind != "respond" or self._after_response:
            return None
        assert node.step is not None and node.step.respond is not None
        try:
            plan = self.plans.plan(node.step.respond)
        except TemplateError as exc:  # the scenario's fault: in the verdict, not the client's
            self.problems.append(f"respond: {exc}")
            plan = failed_plan(exc)
        self.satisfied.append(node.label)
        self.cursor += 1
        self._started = None  # the next step's bound counts from when the response is done
        self._after_response = True
        return plan

    def poll(self, now: float) -> None:
        self._now = now
        node = self._current()
        if node is None or self.stopped:
            return
        if node.kind in BOUNDED and self._started is not None:
            limit, why = self._bound(node)
            if now - self._started >= limit:
                if node.optional and why.endswith("(default timeout)"):
                    self.cursor += 1  # an optional step that did not come: the next one's turn
                    self._started = None
                else:
                    self._fail_expectation(node, why)
                    return
        self._run(now)

    def next_deadline(self) -> float | None:
        node = self._current()
        if node is None or self.stopped:
            return None
        if self._after_response:
            return None if self._responding() else self._now
        if node.kind == "action" or (node.kind == "wait" and self._wait_until is None):
            return self._now
        if node.kind == "wait" and self._wait_until is not None:
            return self._wait_until
        if node.kind in BOUNDED and self._started is not None:
            return self._started + self._bound(node)[0]
        return None

    def waiting(self) -> bool:
        """Whether the script still waits for the client (a required step is to come)."""
        return not self.stopped and first_required(self.nodes, self.cursor) is not None

    def transcribe(self, pcm16: bytes) -> Transcribed | RealtimeError | None:
        """The scenario's transcription of the next committed turn, if it gives one."""
        return self.plans.next_transcription()

    # ---- stepping ------------------------------------------------------------------------

    def _current(self) -> Node | None:
        return self.nodes[self.cursor] if self.cursor < len(self.nodes) else None

    def _responding(self) -> bool:
        return self.session is not None and self.session.active_response_id() is not None

    def _bound(self, node: Node) -> tuple[float, str]:
        audio_ms = self._audio_ms(node.expects[0]) if self._hearing(node) else 0.0
        return wait_bound(node, self.scenario, audio_ms, self._talked_ms)

    def _run(self, now: float) -> None:
        """Run steps from the cursor until one has to wait, or :data:`STEPS_PER_RUN` have run
        (the rest run at the next poll, at once: a long run of sends does not hold the loop)."""
        for _ in range(STEPS_PER_RUN):
            if self.stopped:
                return
            if self._after_response:
                if self._responding():
                    return
                self._after_response = False
            node = self._current()
            if node is None:
                return
            if node.kind in ("expect", "any_order", "respond"):
                if self._started is None:
                    self._started = now
                    self._seen_since = []
                    self._talked_ms = 0.0
                return
            if node.kind == "wait":
                if self._wait_until is None:
                    self._wait_until = now + node.seconds
                if now < self._wait_until:
                    return
                self._wait_until = None
                self._advance(node)
                continue
            self._advance(node)
            assert node.step is not None
            self._act(node.step)

    def _advance(self, node: Node) -> None:
        self.satisfied.append(node.label)
        self.cursor += 1
        self._started = None

    def _hearing(self, node: Node | None) -> bool:
        return node is not None and node.kind == "expect" and node.expects[0].audio is not None

    def _audio_ms(self, expect: Expect) -> float:
        assert expect.audio is not None
        return audio.duration_ms(len(self.plans.pcm(expect.audio)))

    def _heard(self, event: dict[str, Any]) -> float:
        """Milliseconds of audio in an append, in the session's input format."""
        assert self.session is not None
        try:
            chunk = audio.decode_b64(str(event.get("audio", "")))
        except ValueError:
            return 0.0
        return audio.duration_ms(len(chunk), self.session.input_format())

    def _consume(self, event: dict[str, Any]) -> Expect | None:
        """The expect ``event`` satisfies at the cursor (or after skippable ones), if any."""
        if event.get("type") == "input_audio_buffer.append":
            heard = self._consume_audio(event)
            if heard is not None:
                return heard
        found = satisfied_by(self.nodes, self.cursor, lambda expect: self._matches(expect, event))
        if found is None:
            return None
        index, node, expect = found
        self._capture(expect, event)
        if node.kind == "any_order":
            assert node.remaining is not None
            node.remaining.remove(expect)
            if node.remaining:
                return expect
        self.cursor = index
        self._advance(node)
        return expect

    def _consume_audio(self, event: dict[str, Any]) -> Expect | None:
        """An append counted against the audio owed, or the audio expect at the cursor."""
        if self._owed_ms > 0:
            self._owed_ms = max(0.0, self._owed_ms - self._heard(event))
            return Expect(type="input_audio_buffer.append")
        node = self._current()
        if not self._hearing(node):
            return None
        assert node is not None
        expect = node.expects[0]
        node.heard_ms += self._heard(event)
        # Half a millisecond of slack: G.711 and odd chunk sizes round.
        if node.heard_ms + 0.5 >= self._audio_ms(expect):
            self._advance(node)
        return expect

    def _matches(self, expect: EventMatch, event: dict[str, Any]) -> bool:
        try:
            return event_matches(expect, event, self.captures, self._new_id)
        except TemplateError as exc:
            self.problems.append(f"{expect.type}: {exc}")
            return False

    def _capture(self, expect: EventMatch, event: dict[str, Any]) -> None:
        for name, path in expect.capture.items():
            self.captures[name] = get_path(event, path)

    def _new_id(self, kind: str) -> str:
        assert self.session is not None
        return self.session.ids.new(kind)  # type: ignore[arg-type]

    def _fail_expectation(self, node: Node, why: str) -> None:
        self.unmet.append(self._unmet(node, why))
        self.stopped = True
        self.finished.set()
        if self.session is not None and self.session.closed is None:
            # Tell the client, and close: a client waiting for what the script would have sent
            # next then fails at once instead of hanging (and a test reports the verdict).
            message = f"realtime-mock: the scenario's step {node.label}: {why}"
            self.session.transcript.add(
                self._t(), "note", "expectation_unmet", note=f"{node.label}: {why}"
            )
            self.session.send_error(message, "realtime_mock_expectation_unmet")
            self.session.close(UNMET_CLOSE, _close_reason(f"{UNMET_REASON}: {node.label}: {why}"))

    def _unmet(self, node: Node, why: str) -> Unmet:
        return Unmet(node.label, why, tuple(self._seen_since[-10:]), self.connection)

    def _note_unexpected(self, event: dict[str, Any], handled: bool) -> None:
        if self.scenario.unexpected == "ignore" or handled or event.get("type") in NOISE:
            return
        self.unexpected.append(Unexpected(event.get("type"), event.get("event_id"), self._t()))

    def _t(self) -> float:
        return round(self._now - (self.session.started_at if self.session else 0.0), 3)

    # ---- rules ---------------------------------------------------------------------------

    def _apply_rules(self, event: dict[str, Any]) -> bool:
        handled = False
        for rule in self.rules.firing(event, self._matches):
            self._fire(rule)
            handled = handled or rule.instead
        return handled

    def _fire(self, rule: Rule) -> None:
        assert self.session is not None
        for step in rule.do:
            if step.respond is not None:
                self.session.create_response(self.plans.plan(step.respond))
            else:
                self._act(step)

    # ---- actions -------------------------------------------------------------------------

    def _act(self, step: Step) -> None:
        assert self.session is not None
        try:
            perform(step, self.session, lambda event: render(event, self.captures, self._new_id))
        except TemplateError as exc:
            self.problems.append(f"send: {exc}")

    # ---- the verdict ---------------------------------------------------------------------

    def verdict(self) -> ConnectionVerdict:
        """This connection's result."""
        unmet = list(self.unmet)
        pending = None if self.stopped else first_required(self.nodes, self.cursor)
        if pending is not None:
            why = "the connection ended first"
            if pending.kind == "respond":
                why = "the client never asked for this response"
            unmet.append(self._unmet(pending, why))
        findings = self.session.findings if self.session is not None else self._findings
        return ConnectionVerdict(
            connection=self.connection,
            satisfied=tuple(self.satisfied),
            unmet=tuple(unmet),
            unexpected=tuple(self.unexpected),
            mistakes=tuple(findings),
            problems=tuple(self.problems),
            unexpected_fails=self.scenario.unexpected == "fail",
        )
