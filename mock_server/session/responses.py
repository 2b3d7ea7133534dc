"""A session's responses: starting them, streaming them on the session's clock, ending them.

A response is a :class:`ResponseRun`: its plan (from the script or the responder), its settings
(read from the ``response.create`` and the session by the encoder) and a generator that emits
its canonical event sequence (PROTOCOL.md section 6) and yields the pauses between deltas that
its timing gives (:mod:`mock_server.timing`; the session's, changed by the plan's own), scaled
by the session's pace (:class:`~mock_server.session.pacing.Pacer`). :meth:`Responses.due`
advances only the runs whose wake-up has come. A run cancelled, cut off or broken still ends
with its ``response.done``; the item it had open is closed first. The event shapes are streamed
here (:mod:`.streaming`); the dialect's parts of them are the encoder's.
"""

from __future__ import annotations

import heapq
import itertools
import math
from collections.abc import Callable, Generator
from dataclasses import dataclass, field
from typing import Any

from mock_server.ids import IdFactory
from mock_server.protocol import items as item_codec
from mock_server.protocol.encoding import ResponseSettings
from mock_server.protocol.errors import RealtimeError
from mock_server.protocol.formats import BYTES_PER_MS
from mock_server.responder import Responder, ResponsePlan, ResponseRequest
from mock_server.session import streaming
from mock_server.session.context import Clock
from mock_server.session.conversation import Conversation
from mock_server.session.mcp import McpServers
from mock_server.session.outbox import Outbox
from mock_server.session.pacing import HeldOutbox, HeldTranscriptions, Pacer
from mock_server.session.script import Script
from mock_server.timing import LIVE_LIKE, Timing

# Out-of-band responses (conversation: none) a session may have streaming at once; the live
# service streams a few side responses (classification, moderation) next to the conversation's.
MAX_OUT_OF_BAND_RESPONSES = 8

# Pauses a response generator yields are seconds of real time, scaled by the session's pace.
Pause = float


@dataclass
class ResponseRun:
    """An active response: its plan, its state so far, and the generator that streams it."""

    id: str
    plan: ResponsePlan
    in_conversation: bool
    settings: ResponseSettings
    metadata: dict[str, Any] | None
    output: list[dict[str, Any]] = field(default_factory=list)
    current: dict[str, Any] | None = None
    current_kind: str | None = None
    wake_at: float = 0.0
    stream: Generator[Pause, None, None] | None = None
    # Creation order: runs due at the same time advance in it.
    seq: int = 0
    pacer: Pacer = field(default_factory=lambda: Pacer(LIVE_LIKE, 0.0, ""))
    created: bool = False  # response.created is sent (after the timing's latency)
    deltas: int = 0
    first_audio_at: float | None = None  # when its first audio delta was sent
    # The input transcriptions this response sends at the place its timing gives them.
    transcriptions: list[HeldOutbox] = field(default_factory=list)


class Responses:
    """The responses of one session, active and to come."""

    def __init__(
        self,
        outbox: Outbox,
        ids: IdFactory,
        conversation: Conversation,
        clock: Clock,
        *,
        pace: float,
        config: Callable[[], dict[str, Any]],
        responder: Responder,
        script: Script | None,
        timing: Timing = LIVE_LIKE,
        seed: int | str | None = None,
    ) -> None:
        """``config`` is the session's current configuration; a response's plan is the
        ``script``'s, else the ``responder``'s. ``timing`` is the session's (a plan may change
        it), its pauses scaled by ``pace`` and jittered from ``seed``."""
        self.outbox = outbox
        self.encoder = outbox.encoder
        self.ids = ids
        self.conversation = conversation
        self.clock = clock
        self.pace = pace
        self.timing = timing
        self.seed = seed
        self.held = HeldTranscriptions(
            outbox, clock, lambda item_id: conversation.find(item_id) is not None
        )
        self._config = config
        self.responder = responder
        self.script = script
        self.runs: list[ResponseRun] = []
        self.mcp = McpServers(outbox, ids, conversation)
        # (wake_at, seq, run) of every active run, so that due() touches only the runs whose
        # time has come; entries of ended runs are skipped when they surface.
        self._wakeups: list[tuple[float, int, ResponseRun]] = []
        self._run_seq = itertools.count()
        self.rate_remaining = {"requests": 5000, "tokens": 40000}
        # When the turn detection's idle timeout fires (None: not armed): counted from when
        # the last reply's audio has finished playing.
        self.idle_deadline: float | None = None

    def active_id(self) -> str | None:
        """The conversation's response in progress, if any."""
        return next((r.id for r in self.runs if r.in_conversation), None)

    def streaming(self, item_id: str) -> ResponseRun | None:
        """The response still streaming this item, if any."""
        return next(
            (r for r in self.runs if r.current is not None and r.current["id"] == item_id), None
        )

    def next_wakeup(self) -> float | None:
        while self._wakeups and self._wakeups[0][2] not in self.runs:
            heapq.heappop(self._wakeups)
        times = [self._wakeups[0][0]] if self._wakeups else []
        held = self.held.next_deadline()
        return min([*times, held]) if held is not None else (times[0] if times else None)

    def hold_transcription(self) -> HeldOutbox:
        """The timing hook of input transcription: an outbox whose events wait for their place
        in the response the turn starts (see :mod:`.pacing`)."""
        return self.held.hold(self.timing, self.pace)

    def reached(self, run: ResponseRun, place: str) -> None:
        """``run`` has reached ``place``: send the transcriptions its timing puts there."""
        if run.transcriptions and run.pacer.timing.transcription == place:
            self.held.send(run.transcriptions)

    # ---- starting -----------------------------------------------------------------------------

    def start(
        self, overrides: dict[str, Any], event_id: str | None, plan: ResponsePlan | None = None
    ) -> str:
        """Start a response (RealtimeError: refused); returns its id."""
        cfg = self._config()
        if cfg.get("type") == "transcription":
            raise RealtimeError(
                "Responses cannot be created in a transcription session.",
                "invalid_value",
                "type",
            )
        in_conversation = overrides.get("conversation", "auto") != "none"
        if not in_conversation:
            side = [r.id for r in self.runs if not r.in_conversation]
            if len(side) >= MAX_OUT_OF_BAND_RESPONSES:
                raise RealtimeError(
                    f"There are already {len(side)} out-of-band responses in progress "
                    f"({', '.join(side)}), the most this session allows "
                    f"({MAX_OUT_OF_BAND_RESPONSES}). Wait until one finishes, or cancel one, "
                    "before creating another.",
                    "too_many_active_responses",
                )
        active = self.active_id()
        if in_conversation and active is not None:
            raise RealtimeError(
                f"Conversation already has an active response in progress: {active}. Wait "
                "until the response is finished before creating a new one.",
                "conversation_already_has_active_response",
            )
        settings = self.encoder.response_settings(overrides, cfg)
        # Read-only for responders; the user's turns as the model heard them.
        context = self.held.as_heard(list(self.conversation.items))
        if isinstance(overrides.get("input"), list):
            context = [self.encoder.item_from_client(i, self.ids) for i in overrides["input"]]
        request = ResponseRequest(
            context=context,
            tools=overrides.get("tools", cfg.get("tools") or []),
            tool_choice=overrides.get("tool_choice", cfg.get("tool_choice", "auto")),
            output_modalities=list(settings.output_modalities),
            instructions=overrides.get("instructions", cfg.get("instructions", "")),
        )
        if in_conversation:
            self.idle_deadline = None
            self.mcp.before_response(event_id)
        if plan is None and self.script is not None:
            plan = self.script.plan_response(request)
        if plan is not None and in_conversation:
            self.mcp.drop_held()
        if plan is None and in_conversation:
            plan = self.mcp.resume()
        if plan is None:
            plan = self.responder.respond(request)
        plan = self.mcp.prepare(plan, request.tools)
        run = ResponseRun(
            id=self.ids.new("resp"),
            plan=plan,
            in_conversation=in_conversation,
            settings=settings,
            metadata=overrides.get("metadata"),
            wake_at=self.clock.now,
            seq=next(self._run_seq),
        )
        timing = self.timing.merged(plan.timing) if plan.timing else self.timing
        run.pacer = Pacer(timing, self.pace, f"{self.seed}:{run.id}")
        if in_conversation:
            run.transcriptions = self.held.claim()
            self.reached(run, "before_response")
        run.stream = streaming.stream_response(self, run)
        self.runs.append(run)
        # The context copies the whole conversation, which each collection walks while it lives.
        del context, request
        # Emit what is due now, so that response.created precedes anything a later client
        # event causes.
        self.advance(run, self.clock.now)
        return run.id

    # ---- streaming --------------------------------------------------------------------------

    def due(self, now: float) -> None:
        """Advance the runs whose wake-up time has come, in creation order; send the input
        transcriptions no response claimed by their deadline."""
        self.held.due(now)
        if not self._wakeups or self._wakeups[0][0] > now:
            return  # no run to advance: most turns of the clock
        due = []
        while self._wakeups and self._wakeups[0][0] <= now:
            _, _, run = heapq.heappop(self._wakeups)
            if run in self.runs:
                due.append(run)
        due.sort(key=lambda run: run.seq)
        for run in due:
            self.advance(run, now)

    def advance(self, run: ResponseRun, now: float) -> None:
        assert run.stream is not None
        while run in self.runs and run.wake_at <= now:
            try:
                pause = next(run.stream)
            except StopIteration:
                if run in self.runs:
                    self.runs.remove(run)
                return
            except Exception as exc:
                # The client still gets its response.done (failed), not a response that
                # never ends; the session goes on.
                self.outbox.internal_error(exc, f"streaming response {run.id}")
                if run in self.runs:
                    self.stop(
                        run,
                        "failed",
                        {
                            "type": "failed",
                            "error": {"type": "server_error", "code": None, "message": str(exc)},
                        },
                    )
                return
            if pause > 0:
                run.wake_at += pause
        if run in self.runs:
            heapq.heappush(self._wakeups, (run.wake_at, run.seq, run))
            if len(self._wakeups) > 2 * len(self.runs) + 16:
                # Runs cancelled before their wake-up left entries behind: drop them.
                self._wakeups = [entry for entry in self._wakeups if entry[2] in self.runs]
                heapq.heapify(self._wakeups)

    def response_object(self, run: ResponseRun, status: str) -> dict[str, Any]:
        response: dict[str, Any] = {
            "id": run.id,
            "object": "realtime.response",
            "status": status,
            "status_details": None,
            "output": [],
            "conversation_id": self.conversation.id if run.in_conversation else None,
            "max_output_tokens": run.settings.max_output_tokens,
            "metadata": run.metadata,
            "usage": None,
        }
        return self.encoder.response_object(response, run.settings, self._config())

    def emit_rate_limits(self) -> None:
        self.rate_remaining["requests"] = max(0, self.rate_remaining["requests"] - 1)
        self.rate_remaining["tokens"] = max(0, self.rate_remaining["tokens"] - 4096)
        self.outbox.emit(
            {
                "type": "rate_limits.updated",
                "rate_limits": [
                    {
                        "name": "requests",
                        "limit": 5000,
                        "remaining": self.rate_remaining["requests"],
                        "reset_seconds": 0.012,
                    },
                    {
                        "name": "tokens",
                        "limit": 40000,
                        "remaining": self.rate_remaining["tokens"],
                        "reset_seconds": 6.144,
                    },
                ],
            }
        )
        # The reservation is given back when the response ends.
        self.rate_remaining["tokens"] = min(40000, self.rate_remaining["tokens"] + 4096)

    # ---- ending -------------------------------------------------------------------------------

    def usage(self, run: ResponseRun) -> dict[str, Any]:
        if run.plan.usage is not None:
            return run.plan.usage
        audio = self.conversation.audio
        # The conversation keeps these as running totals: reading them costs this turn's
        # changes, not the whole conversation's text.
        context_chars, input_audio_tokens = self.conversation.usage_totals()
        # As streaming.estimate_tokens of the items' text joined by spaces.
        input_text = (max(1, math.ceil(context_chars / 4)) if context_chars else 0) + 120
        output_text = sum(streaming.estimate_tokens(item_codec.text_of(i)) for i in run.output)
        output_audio = sum(math.ceil(len(audio.get(i["id"], b"")) / 2400) for i in run.output)
        input_details = self.encoder.input_token_details(
            {"text_tokens": input_text, "audio_tokens": input_audio_tokens, "cached_tokens": 0}
        )
        inputs = input_text + input_audio_tokens
        outputs = output_text + output_audio
        return {
            "total_tokens": inputs + outputs,
            "input_tokens": inputs,
            "output_tokens": outputs,
            "input_token_details": input_details,
            "output_token_details": {"text_tokens": output_text, "audio_tokens": output_audio},
        }

    def finish(self, run: ResponseRun, status: str, details: dict[str, Any] | None) -> None:
        response = self.response_object(run, status)
        response["status_details"] = details
        response["output"] = [self.encoder.item(i) for i in run.output]
        response["usage"] = self.usage(run)
        if run in self.runs:
            self.runs.remove(run)
        self.clock.last_activity = self.clock.now
        self.outbox.emit({"type": "response.done", "response": response})
        self.held.send(run.transcriptions)  # after_done, or a place the response never reached
        turn = self._config()["audio"]["input"].get("turn_detection")
        idle_ms = turn.get("idle_timeout_ms") if isinstance(turn, dict) else None
        if run.in_conversation and isinstance(idle_ms, int) and self.encoder.has_idle_timeout:
            # The live service counts from when the reply's audio has finished playing.
            audio = self.conversation.audio
            played_s = (
                sum(len(audio.get(i["id"], b"")) for i in run.output)
                / BYTES_PER_MS[run.settings.output_format]
                / 1000
            )
            # The client plays the audio from its first delta on, at 1x.
            started = self.clock.now if run.first_audio_at is None else run.first_audio_at
            remaining = max(0.0, started + played_s - self.clock.now)
            self.idle_deadline = self.clock.now + remaining + idle_ms / 1000

    def cancel(self, run: ResponseRun, reason: str) -> None:
        """Stop a streaming response and close what it had open, as the live service does."""
        self.stop(run, "cancelled", {"type": "cancelled", "reason": reason})

    def cancel_requested(self, wanted: str | None) -> None:
        """The client's ``response.cancel`` (of ``wanted``, or the conversation's response)."""
        runs = [r for r in self.runs if wanted is None or r.id == wanted]
        if wanted is None:
            runs = [r for r in runs if r.in_conversation] or runs
        if not runs:
            raise RealtimeError(
                "Cancellation failed: no active response found", "response_cancel_not_active"
            )
        self.cancel(runs[0], "client_cancelled")

    def stop(self, run: ResponseRun, status: str, details: dict[str, Any]) -> None:
        """End a response early with ``status``: its stream stops, the item it had open is
        closed (incomplete), and ``response.done`` says why."""
        if run.stream is not None:
            run.stream.close()
        if not run.created:
            # Stopped in its latency: the client still sees it begin before it ends.
            streaming.emit_created(self, run)
        if run.current is not None and run.current_kind == "function_call":
            # A call cut off before its arguments were done was never issued: no output is
            # owed for it (the verdict must not report it as pending).
            self.conversation.pending_calls.pop(run.current.get("call_id", ""), None)
        if run.current is not None:
            streaming.close_open_part(self, run)
        self.finish(run, status, details)

    def cancel_all(
        self, reason: str, *, emit: bool = True, in_conversation_only: bool = False
    ) -> None:
        for run in list(self.runs):
            if in_conversation_only and not run.in_conversation:
                continue
            if emit:
                self.cancel(run, reason)
            else:
                if run.stream is not None:
                    run.stream.close()
                self.runs.remove(run)
