"""The handshake decided without I/O: a request and the mounts in, a decision out.

:func:`select` finds the mount a request's path names and checks that it is a WebSocket upgrade
at all; :func:`decide` then applies the mount's policy, in the live service's order: the
scenario's handshake policy (its 429s, 401s, ...), a relay to an upstream, the key, the server's
session limit, Azure's ``api-version``, then the dialect and the model. The result is one of:

- :class:`Refuse`: the HTTP response to send instead of upgrading (the OpenAI error body);
- :class:`Accept`: upgrade, with the connection's dialect, model, subprotocol, the handshake
  as the transcript records it, and the in-band refusal (an ``error`` event, then close 4000)
  the live service makes after the upgrade, if any;
- :class:`Relay`: upgrade once the mount's upstream has been opened (the server does that).

The server sleeps a mount's ``handshake_delay`` between the two, and counts the attempts: no
socket, no clock and no event loop here, so that each branch is a plain function call in tests.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qsl, urlsplit

from websockets.datastructures import Headers
from websockets.http11 import Request, Response
from websockets.typing import Subprotocol

from mock_server.protocol.events import Dialect
from mock_server.protocol.http import (
    AZURE_LEGACY,
    AZURE_SUFFIXES,
    asks_for_beta,
    mask_key,
    offered_subprotocols,
    openai_error,
    presented_key,
    split_realtime_path,
    subprotocol_problem,
)
from mock_server.redaction import redact_text
from mock_server.server.ephemeral import EphemeralKey, EphemeralKeys, is_ephemeral
from mock_server.server.mount import Mount

if TYPE_CHECKING:
    from mock_server.relay import Upstream
    from mock_server.transcript import Handshake

# Models the live service knows; anything else is refused with `missing_model` (close 4000).
KNOWN_MODELS = re.compile(r"^(gpt-realtime|gpt-4o(-mini)?-realtime|gpt-audio|gpt-4o(-mini)?-audio)")
BETA_RETIRED_MESSAGE = (
    "The Realtime Beta API is no longer supported. Please use /v1/realtime for the GA API."
)
DEFAULT_MODEL = "gpt-realtime"
# The one subprotocol the server picks, when offered (browsers offer it with their key's).
REALTIME_SUBPROTOCOL = Subprotocol("realtime")


@dataclass(frozen=True)
class Refuse:
    """Answer the handshake with ``response`` (no upgrade)."""

    response: Response


@dataclass(frozen=True)
class Target:
    """The mount a realtime path names, and what the path and query say."""

    mount: Mount
    prefix: str
    suffix: str  # "/v1/realtime", or Azure's "/openai/realtime" or "/openai/v1/realtime"
    query: Mapping[str, str]


@dataclass(frozen=True)
class Accept:
    """Upgrade: the connection is emulated by a session of the mount."""

    mount: Mount
    dialect: Dialect
    model: str
    intent: str | None
    api_key: str | None
    subprotocol: Subprotocol | None
    handshake: Handshake
    refusal: tuple[str, str] | None = None  # (code, message) of an in-band refusal
    # The configuration an ephemeral key baked in (neutral form), applied over the mount's.
    session: dict[str, Any] | None = None


@dataclass(frozen=True)
class Relay:
    """Upgrade once ``upstream`` is open: the connection is relayed, not emulated."""

    mount: Mount
    upstream: Upstream
    dialect: Dialect
    subprotocol: Subprotocol | None
    handshake: Handshake


def select(request: Request, mounts: Mapping[str, Mount], *, origin: str) -> Refuse | Target:
    """The mount ``request`` is for, or why it is not a handshake any mount serves.

    ``origin`` (``ws://host:port``) is where the 426 for a plain HTTP request points.
    """
    try:
        url = urlsplit(request.path)
    except ValueError:  # "//[" parses as an unclosed IPv6 host
        return Refuse(openai_error(400, f"Invalid URL (GET {redact_text(request.path)[:200]})"))
    where = split_realtime_path(url.path)
    if where is None or where[0] not in mounts:
        return Refuse(openai_error(404, f"Invalid URL (GET {url.path})"))
    prefix, suffix = where
    headers = request.headers
    if "websocket" not in headers.get("Upgrade", "").lower():
        return Refuse(
            openai_error(
                426,
                "This is the Realtime API's WebSocket endpoint: connect with a WebSocket client "
                f"to {origin}{url.path}?model={DEFAULT_MODEL} (the openai SDKs do this from "
                "base_url). Plain HTTP requests are not served here.",
                code="upgrade_required",
            )
        )
    problem = subprotocol_problem(headers)
    if problem is not None:
        return Refuse(
            openai_error(
                400,
                f"{problem}. Offer subprotocols as a comma-separated list of tokens (no spaces "
                "inside one, no '/', '(' or quotes), e.g. 'realtime, openai-beta.realtime-v1'.",
                code="invalid_subprotocol",
            )
        )
    query = dict(parse_qsl(url.query, keep_blank_values=True))
    return Target(mounts[prefix], prefix, suffix, query)


def decide(
    request: Request,
    target: Target | Mapping[str, Mount],
    *,
    attempt: int = 1,
    open_sessions: int = 0,
    max_sessions: int | None = None,
    origin: str = "ws://127.0.0.1",
    ephemeral: EphemeralKeys | None = None,
) -> Refuse | Accept | Relay:
    """What to answer ``request``, attempt number ``attempt`` on its mount.

    ``target`` is what :func:`select` found, or the mounts by prefix (then it is selected here;
    ``origin`` is only read for that). An ``ek_`` key must be one of ``ephemeral`` (the keys the
    server issued, valid under this mount and not expired), whatever the mount's keys.
    """
    if not isinstance(target, Target):
        selected = select(request, target, origin=origin)
        if isinstance(selected, Refuse):
            return selected
        target = selected
    mount, headers, query = target.mount, request.headers, target.query
    if mount.handshake_policy is not None:
        policy_refusal = mount.handshake_policy(attempt, request)
        if policy_refusal is not None:
            return Refuse(policy_refusal)
    subprotocol = select_subprotocol(offered_subprotocols(headers))
    upstream = mount.upstream
    if upstream is not None and (upstream.relays is None or upstream.relays()):
        # The client's dialect, whatever the mount's: the upstream decides what it serves.
        dialect = _asked_for(headers)
        handshake = _handshake(request, dialect, target.prefix)
        return Relay(mount, upstream, dialect, subprotocol, handshake)
    key = presented_key(headers)
    issued: EphemeralKey | None = None
    if is_ephemeral(key):
        assert key is not None
        checked = (ephemeral or EphemeralKeys()).check(key, target.prefix)
        if isinstance(checked, Response):
            return Refuse(checked)
        issued = checked
    else:
        refusal = key_refusal(mount, key, query)
        if refusal is not None:
            return Refuse(refusal)
    if max_sessions is not None and open_sessions >= max_sessions:
        return Refuse(
            openai_error(
                503,
                f"realtime-mock is serving its maximum of {max_sessions} concurrent "
                "sessions (--max-sessions); retry when one has ended.",
                code="too_many_sessions",
                type_="server_error",
            )
        )
    if target.suffix == AZURE_LEGACY and "api-version" not in query:
        return Refuse(
            openai_error(
                400,
                "Missing required query parameter 'api-version' (Azure OpenAI realtime URLs look "
                "like /openai/realtime?api-version=2025-04-01-preview&deployment=NAME).",
                code="missing_required_parameter",
                param="api-version",
            )
        )
    dialect = mount.dialect if mount.dialect is not None else _asked_for(headers)
    model = query.get("model") or query.get("deployment") or (issued.model if issued else "")
    # An empty intent= is the client's (and refused as unknown); a key's only without one.
    intent = query.get("intent", issued.intent if issued else None)
    in_band = _in_band_refusal(mount, dialect, model, intent, target.suffix, query)
    return Accept(
        mount=mount,
        dialect=dialect,
        model=model or (DEFAULT_MODEL if in_band is None else ""),
        intent=intent,
        api_key=presented_key(headers),
        subprotocol=subprotocol,
        handshake=_handshake(request, dialect, target.prefix),
        refusal=in_band,
        session=issued.session if issued else None,
    )


def select_subprotocol(offered: list[str]) -> Subprotocol | None:
    """The subprotocol to answer with: ``realtime`` when offered, else none."""
    return REALTIME_SUBPROTOCOL if REALTIME_SUBPROTOCOL in offered else None


def _asked_for(headers: Headers) -> Dialect:
    """The dialect a handshake asks for: beta by header or subprotocol, else GA."""
    return Dialect.BETA if asks_for_beta(headers) else Dialect.GA


def _handshake(request: Request, dialect: Dialect, prefix: str) -> Handshake:
    """The handshake as the connection's transcript records it (secrets already removed)."""
    url = urlsplit(request.path)
    query = dict(parse_qsl(url.query, keep_blank_values=True))
    from mock_server.transcript import Handshake  # loaded after listening (warm.py)

    return Handshake.redacted(
        path=url.path,
        query=query,
        headers=list(request.headers.raw_items()),
        subprotocols=offered_subprotocols(request.headers),
        dialect=dialect.value,
        model=query.get("model") or query.get("deployment") or None,
        mount=prefix,
    )


def key_refusal(mount: Mount, key: str | None, query: Mapping[str, str]) -> Response | None:
    """The 401 for a missing key, or one the mount does not accept; None when it may pass."""
    if key is None:
        if query.get("api_key") or query.get("api-key"):
            return openai_error(
                401,
                "You passed your API key as a query parameter (?api_key=...), which the "
                "Realtime API does not read. Send it in a header: 'Authorization: Bearer "
                "YOUR_KEY' (Azure: 'api-key: YOUR_KEY'), or in a browser as the WebSocket "
                "subprotocol 'openai-insecure-api-key.YOUR_KEY'.",
                code="missing_api_key",
            )
        return openai_error(
            401,
            "You didn't provide an API key. You need to provide your API key in an "
            "Authorization header using Bearer auth (i.e. Authorization: Bearer YOUR_KEY).",
            code="missing_api_key",
        )
    if mount.api_keys and key not in mount.api_keys:
        return openai_error(
            401,
            f"Incorrect API key provided: {mask_key(key)}. This mock accepts only the keys "
            "given with --api-key.",
            code="invalid_api_key",
        )
    return None


def _in_band_refusal(
    mount: Mount,
    dialect: Dialect,
    model: str,
    intent: str | None,
    suffix: str,
    query: Mapping[str, str],
) -> tuple[str, str] | None:
    """Refusals the live service makes after the upgrade: an error event, then close 4000."""
    if dialect is Dialect.BETA and mount.beta == "retired":
        return "beta_api_shape_disabled", BETA_RETIRED_MESSAGE
    if suffix in AZURE_SUFFIXES or mount.any_model:
        return None
    if dialect is Dialect.GA and (query.get("call_id") or intent == "transcription"):
        return None
    if not model:
        if dialect is Dialect.BETA:
            return "missing_model", "You must provide a model parameter (?model=...)."
        return None
    if not KNOWN_MODELS.match(model):
        return (
            "missing_model",
            f"The model '{model}' does not exist or you do not have access to it. "
            "(realtime-mock: start it with --any-model to accept any model name.)",
        )
    return None
