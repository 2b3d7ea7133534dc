"""How a session behaves: :class:`SessionOptions`, which the server fills from the CLI, a mount
or a scenario. The one place in the session package that names the dialect's type: the
session itself gets an encoder for it (:func:`mock_server.protocol.encoding.encoder_for`).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from mock_server.conformance import OutboundCheck
from mock_server.protocol.events import DEFAULT_DIALECT, Dialect
from mock_server.protocol.limits import MAX_SESSION_DURATION_S
from mock_server.timing import LIVE_LIKE, Timing

DEFAULT_MAX_DURATION_S = MAX_SESSION_DURATION_S


@dataclass
class SessionOptions:
    """How a session behaves; the server fills it from the CLI, a mount or a scenario."""

    dialect: Dialect = DEFAULT_DIALECT
    model: str = "gpt-realtime"
    seed: int | str | None = None
    pace: float = 1.0
    # When the model's events go out (pace scales it); a respond of a scenario may change it.
    timing: Timing = LIVE_LIKE
    intent: str | None = None
    max_duration_s: float | None = DEFAULT_MAX_DURATION_S
    # Close (1001) after this long without a client frame while no response streams.
    close_idle_after_s: float | None = None
    session_overrides: dict[str, Any] = field(default_factory=dict)
    send_conversation_created: bool | None = None
    transcriber: Callable[[bytes], str | None] | None = None
    # The checks every event the session sends goes through. None: the process's default
    # checks (mock_server.conformance.default_checks(), read when the session is built; the
    # test suite installs the SDK conformance check there, `serve --strict` its stderr report).
    outbound_checks: Sequence[OutboundCheck] | None = None


def expiry_message(limit_s: float) -> str:
    """The ``session_expired`` message, in the live service's wording; a limit shorter than
    whole minutes (tests) says seconds.

    >>> expiry_message(DEFAULT_MAX_DURATION_S)
    'Your session hit the maximum duration of 60 minutes.'
    >>> expiry_message(0.5)
    'Your session hit the maximum duration of 0.5 seconds.'
    """
    if limit_s >= 60 and limit_s % 60 == 0:
        return f"Your session hit the maximum duration of {round(limit_s / 60)} minutes."
    return f"Your session hit the maximum duration of {limit_s:g} seconds."
