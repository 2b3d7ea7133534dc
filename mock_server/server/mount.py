"""A mount: how the connections under one URL prefix behave, as configuration only.

A :class:`Mount` is what a scenario (or the command line) asks of its connections: the dialect,
the keys, the pace, the handshake policy, the script, or an upstream to relay to. It holds
nothing that changes while the server serves: what the server counts per mount (handshake
attempts, accepted connections) is a :class:`MountTraffic`, kept by the server
(:meth:`~mock_server.server.MockServer.traffic`), so that one mount may be handed to several
servers, or mounted again, and each count starts from the server's own first connection.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal

from websockets.http11 import Request, Response

from mock_server.protocol.events import Dialect
from mock_server.protocol.http import HttpRequest
from mock_server.protocol.limits import MAX_SESSION_DURATION_S
from mock_server.timing import LIVE_LIKE, Timing

if TYPE_CHECKING:
    from mock_server.relay import Upstream
    from mock_server.responder import Responder
    from mock_server.session import Script

BetaPolicy = Literal["served", "retired"]

# The words a user types for a mount's dialect; "auto" lets each handshake decide.
DIALECT_WORDS = ("auto", "ga", "beta")


def mount_dialect(word: str | Dialect | None) -> Dialect | None:
    """A mount's dialect from what a user typed: ``auto`` (None: each handshake decides),
    ``ga`` or ``beta``.

    >>> mount_dialect("auto") is None, mount_dialect("beta")
    (True, <Dialect.BETA: 'beta'>)
    """
    if word is None or isinstance(word, Dialect):
        return word
    if word == "auto":
        return None
    try:
        return Dialect(word)
    except ValueError:
        raise ValueError(
            f"unknown dialect {word!r}: a mount's dialect is one of {', '.join(DIALECT_WORDS)}"
        ) from None


@dataclass
class Mount:
    """How the connections under one URL prefix behave."""

    prefix: str = ""
    # None: each handshake decides (beta when it asks for it, else GA). The words "auto",
    # "ga" and "beta" are accepted too, and turned into this type.
    dialect: Dialect | None = None
    beta: BetaPolicy = "served"
    api_keys: frozenset[str] = frozenset()
    any_model: bool = False
    pace: float = 1.0
    # When the model's events go out (mock_server.timing); the pace scales it.
    timing: Timing = LIVE_LIKE
    seed: int | str | None = None
    max_duration_s: float | None = MAX_SESSION_DURATION_S
    # Close a connection (1001) after this long without a client frame while no response
    # streams; None keeps idle connections open, as the live service does until max_duration.
    close_idle_after_s: float | None = None
    # Virtual seconds per real second for everything the session times (the maximum duration,
    # idle timeouts, pacing, a scenario's waits): 3600 runs a 60-minute limit in a second.
    time_scale: float = 1.0
    session_overrides: dict[str, Any] = field(default_factory=dict)
    responder_factory: Callable[[], Responder] | None = None
    # Decides each handshake before the key check: given the attempt's number (1, 2, ...) and
    # the request, it may refuse (e.g. 429 then success, to test a client's backoff).
    handshake_policy: Callable[[int, Request], Response | None] | None = None
    # Seconds to wait before answering attempt N (a slow service).
    handshake_delay: Callable[[int], float] | None = None
    # A new script (the scenario runner) per connection; it gets the connection's number.
    script_factory: Callable[[int], Script] | None = None
    transcriber: Callable[[bytes], str | None] | None = None
    # Relay connections to a live Realtime endpoint instead of emulating (mock_server.relay).
    upstream: Upstream | None = None
    # Keep every connection's input audio in its transcript (Transcript.input_audio), for
    # reports; costs the audio's own size per session.
    keep_input_audio: bool = False
    # The REST side (client secrets, the beta-era sessions), as handshake_policy and
    # handshake_delay for the WebSocket: request N may be refused, or answered late.
    rest_policy: Callable[[int, HttpRequest], Response | None] | None = None
    rest_delay: Callable[[int], float] | None = None

    def __post_init__(self) -> None:
        # Callers without type checking may still pass the words users type.
        self.dialect = mount_dialect(self.dialect)


@dataclass
class MountTraffic:
    """What a server counted on one mount while serving it."""

    # Handshakes that reached the mount's policy (the right path, a WebSocket upgrade).
    attempts: int = 0
    # Accepted connections so far: each one's number counts from 1 per mount, so that a
    # scenario's findings say "connection 1" whatever else the shared server has served.
    accepted: int = 0
    # Requests to the REST side (client secrets, sessions) that reached the mount's policy.
    rest_requests: int = 0

    def count_attempt(self) -> int:
        """Count one more handshake attempt; its number (1, 2, ...)."""
        self.attempts += 1
        return self.attempts

    def count_accepted(self) -> int:
        """Count one more accepted connection; its number (1, 2, ...)."""
        self.accepted += 1
        return self.accepted
