"""A scenario served: the mount that plays it on every connection, and the overall verdict.

The scenario's ``dialect`` decides the mount's policy: ``any`` serves both dialects (each
connection in its own), ``ga`` answers beta clients as the live service does since 2026-05
(``beta_api_shape_disabled``), ``beta`` refuses clients without ``OpenAI-Beta: realtime=v1``
as the beta-era service did. ``handshake`` and ``connections`` decide each attempt. A
``passthrough`` scenario relays accepted connections to a live endpoint, its rules scripting
faults on top (:mod:`mock_server.relay`).
"""

from __future__ import annotations

import itertools
import os
import threading
import time
from collections.abc import Iterable
from dataclasses import dataclass

from websockets.http11 import Request, Response

from mock_server.protocol.events import Dialect
from mock_server.protocol.http import HttpRequest, asks_for_beta, openai_error, presented_key
from mock_server.relay import DEFAULT_UPSTREAM, Upstream
from mock_server.scenario.loader import LoadedScenario
from mock_server.scenario.model import Handshake
from mock_server.scenario.runner import ScenarioRunner
from mock_server.scenario.verdict import ConnectionVerdict, Refusal, ScenarioVerdict
from mock_server.server import Mount
from mock_server.server.ephemeral import is_ephemeral

_DEFAULT_MESSAGES = {
    401: "Incorrect API key provided.",
    403: "You do not have access to the Realtime API.",
    404: "The model does not exist or you do not have access to it.",
    429: "Rate limit reached for requests. Please try again later.",
    500: "The server had an error while processing your request.",
    503: "The engine is currently overloaded, please try again later.",
}
_DEFAULT_CODES = {401: "invalid_api_key", 429: "rate_limit_exceeded"}


def _pace(text: str) -> float:
    from mock_server.units import parse_pace

    # recorded: real time, the respond steps playing the timing they were recorded with.
    return 1.0 if text == "recorded" else parse_pace(text)


@dataclass(frozen=True)
class Played:
    """What one process saw of a served scenario: its connections' verdicts, the refusals,
    when connections were accepted (monotonic: one clock for every process of the machine)
    and the handshake attempts counted (the highest attempt number it saw)."""

    connections: tuple[ConnectionVerdict, ...]
    refusals: tuple[Refusal, ...]
    accepted_at: tuple[float, ...]
    attempts: int

    @staticmethod
    def merge(parts: Iterable[Played]) -> Played:
        """Several processes' parts as one (``serve --workers``): connections in their number's
        order, refusals and acceptances in time order, the highest attempt number."""
        parts = list(parts)
        return Played(
            tuple(sorted((c for p in parts for c in p.connections), key=lambda c: c.connection)),
            tuple(sorted((r for p in parts for r in p.refusals), key=lambda r: r.t)),
            tuple(sorted(t for p in parts for t in p.accepted_at)),
            max((p.attempts for p in parts), default=0),
        )


class ServedScenario:
    """A scenario mounted on a server: its runners, one per connection, and its verdict."""

    def __init__(
        self, loaded: LoadedScenario, prefix: str = "", upstream: str | None = None
    ) -> None:
        self.loaded = loaded
        # Where a passthrough scenario's sessions go: the argument, $REALTIME_MOCK_UPSTREAM,
        # or the live API.
        self.upstream = upstream or os.environ.get("REALTIME_MOCK_UPSTREAM") or DEFAULT_UPSTREAM
        self.scenario = loaded.scenario
        self.prefix = prefix
        self.runners: list[ScenarioRunner] = []
        self.refusals: list[Refusal] = []
        self.accepted_at: list[float] = []
        self._mount: Mount | None = None
        self.attempts = 0  # handshakes that reached the policy (the server counts them too)
        self.secret_requests = 0  # requests for client secrets that reached the REST policy
        self._lock = threading.Lock()

    def _spec(self, attempt: int) -> Handshake:
        connections = self.scenario.connections
        if connections:
            return connections[min(attempt, len(connections)) - 1]
        return self.scenario.handshake

    def _policy(self, attempt: int, request: Request) -> Response | None:
        spec = self._spec(attempt)
        self.attempts = max(self.attempts, attempt)
        if self.scenario.dialect is Dialect.BETA and not asks_for_beta(request.headers):
            return self._refuse(
                attempt,
                400,
                "This endpoint speaks the Realtime beta: send the header 'OpenAI-Beta: "
                "realtime=v1' (browsers: the subprotocol 'openai-beta.realtime-v1').",
                "missing_beta_header",
            )
        keys = spec.require_key or self.scenario.handshake.require_key
        presented = presented_key(request.headers)
        # A missing key gets the server's own 401; an ephemeral key was issued for a request
        # with an accepted key, and the server checks it.
        if keys is not None and presented is not None and not is_ephemeral(presented):
            allowed = [keys] if isinstance(keys, str) else keys
            if presented not in allowed:
                return self._refuse(attempt, 401, "Incorrect API key provided.", "invalid_api_key")
        if spec.status is not None and spec.status >= 300:
            message = spec.message or _DEFAULT_MESSAGES.get(spec.status, "Request refused.")
            extra = []
            if spec.retry_after is not None:
                extra.append(("retry-after", f"{spec.retry_after:g}"))
            return self._refuse(
                attempt,
                spec.status,
                message,
                spec.code or _DEFAULT_CODES.get(spec.status),
                spec.type,
                extra,
            )
        return None

    def _secret_spec(self, request_number: int) -> Handshake:
        specs = self.scenario.client_secrets or [Handshake()]
        return specs[min(request_number, len(specs)) - 1]

    def _secret_policy(self, request_number: int, request: HttpRequest) -> Response | None:
        """The scenario's answer to request N for a client secret, when it refuses it."""
        spec = self._secret_spec(request_number)
        with self._lock:
            self.secret_requests = max(self.secret_requests, request_number)
        presented = presented_key(request.headers)
        keys = spec.require_key or self.scenario.handshake.require_key
        allowed = [keys] if isinstance(keys, str) else keys
        if allowed is not None and presented is not None and presented not in allowed:
            return self._refuse(
                request_number, 401, "Incorrect API key provided.", "invalid_api_key", record=False
            )
        if spec.status is None:
            return None
        extra = [] if spec.retry_after is None else [("retry-after", f"{spec.retry_after:g}")]
        return self._refuse(
            request_number,
            spec.status,
            spec.message or _DEFAULT_MESSAGES.get(spec.status, "Request refused."),
            spec.code or _DEFAULT_CODES.get(spec.status),
            spec.type,
            extra,
            record=False,
        )

    def _refuse(
        self,
        attempt: int,
        status: int,
        message: str,
        code: str | None,
        type_: str | None = None,
        headers: list[tuple[str, str]] | None = None,
        *,
        record: bool = True,  # a handshake's refusal, which the verdict's timeline reads
    ) -> Response:
        if record:
            with self._lock:
                self.refusals.append(Refusal(attempt, status, code, time.monotonic()))
        kind = type_ or (
            "requests"
            if status == 429
            else "server_error"
            if status >= 500
            else "invalid_request_error"
        )
        return openai_error(status, message, code=code, type_=kind, headers=headers or [])

    def _runner(self, number: int) -> ScenarioRunner:
        attempt_steps = None
        if self.scenario.connections:
            accepted = [c for c in self.scenario.connections if not (c.status and c.status >= 300)]
            index = min(number, len(accepted)) - 1 if accepted else -1
            if index >= 0:
                attempt_steps = accepted[index].steps
        steps = attempt_steps if attempt_steps is not None else self.scenario.steps
        runner = ScenarioRunner(self.loaded, steps, number)
        with self._lock:
            self.runners.append(runner)
            self.accepted_at.append(time.monotonic())
        return runner

    def mount(self) -> Mount:
        dialect = self.scenario.dialect
        self._mount = Mount(
            prefix=self.prefix,
            dialect=Dialect.BETA if dialect is Dialect.BETA else None,
            beta="retired" if dialect is Dialect.GA else "served",
            pace=_pace(self.scenario.pace),
            timing=self.scenario.timing.timing(),
            seed=self.scenario.seed,
            max_duration_s=self.scenario.max_duration,
            close_idle_after_s=self.scenario.close_idle_after,
            time_scale=self.scenario.time_scale,
            session_overrides=dict(self.scenario.session),
            handshake_policy=self._policy,
            handshake_delay=lambda attempt: self._spec(attempt).delay,
            script_factory=self._runner,
            any_model=True,
        )
        scripted = self.scenario.client_secrets or self.scenario.handshake.require_key
        if scripted or self.scenario.client_secret_requests is not None:
            self._mount.rest_policy = self._secret_policy
            self._mount.rest_delay = lambda number: self._secret_spec(number).delay
        if self.scenario.passthrough:
            self._mount.upstream = Upstream(url=self.upstream, rules=self.scenario.rules)
        return self._mount

    def played(self) -> Played:
        """What this process saw of the scenario (what a worker hands its supervisor)."""
        with self._lock:
            connections = tuple(r.verdict() for r in self.runners)
            refusals = tuple(self.refusals)
            accepted_at = tuple(self.accepted_at)
        attempts = self.attempts if self._mount is not None else len(connections)
        return Played(connections, refusals, accepted_at, attempts)

    def verdict(self, played: Played | None = None) -> ScenarioVerdict:
        """The scenario's result over every connection: this process's, or ``played`` (the
        workers' parts merged by :meth:`Played.merge`)."""
        played = played or self.played()
        connections, refusals = played.connections, played.refusals
        accepted_at, attempts = played.accepted_at, played.attempts
        expected = 1
        if self.scenario.connections:
            expected = sum(
                1 for c in self.scenario.connections if not (c.status and c.status >= 300)
            )
        findings: list[str] = []
        wanted = self.scenario.attempts
        if wanted is not None and attempts != wanted:
            findings.append(
                f"a correct client makes {wanted} connection attempt(s) here; this one made "
                f"{attempts}"
                + (" (it retried a refusal that retrying cannot fix)" if attempts > wanted else "")
            )
        wanted_secrets = self.scenario.client_secret_requests
        if wanted_secrets is not None and self.secret_requests != wanted_secrets:
            findings.append(
                f"a correct backend asks for {wanted_secrets} client secret(s) here; this one "
                f"asked {self.secret_requests} time(s)"
            )
        timeline: list[tuple[float, Refusal | None]] = sorted(
            [(r.t, r) for r in refusals] + [(t, None) for t in accepted_at],
            key=lambda entry: entry[0],
        )
        for (_, earlier), (t_later, _) in itertools.pairwise(timeline):
            if earlier is None:
                continue
            retry_after = self._spec(earlier.attempt).retry_after
            waited = t_later - earlier.t
            if retry_after is not None and waited + 0.05 < retry_after:
                findings.append(
                    f"the client came back {waited:.2f}s after a {earlier.status} with "
                    f"retry-after {retry_after:g}s"
                )
        if len(connections) < expected and wanted is None and not self.scenario.passthrough:
            findings.append(
                f"expected {expected} accepted connection(s), the client made {len(connections)}"
                + (f" after {len(refusals)} refusal(s)" if refusals else "")
            )
        for verdict in connections:
            findings += verdict.findings()
        warnings = [
            f"connection {v.connection}: {m.kind}: {m.message}"
            for v in connections
            for m in v.warnings
        ]
        return ScenarioVerdict(
            scenario=self.scenario.name,
            findings=tuple(findings),
            warnings=tuple(warnings),
            refusals=tuple(refusals),
            connections=tuple(connections),
        )
