"""The handshake decided without a socket: ``decide`` on plain ``websockets`` requests.

Each branch of the live service's handshake, as a function call: refusals with their status and
error code, the dialect a request asks for, the in-band refusals, a relay. The same decisions
over a real socket are in test_server.py and test_proxy.py.
"""

from __future__ import annotations

import json

import pytest
from websockets.datastructures import Headers
from websockets.http11 import Request, Response

from mock_server.protocol.events import Dialect
from mock_server.protocol.http import openai_error
from mock_server.relay import Upstream
from mock_server.server import Mount
from mock_server.server.handshake import Accept, Refuse, Relay, decide, select

KEY = ("Authorization", "Bearer sk-test")
UPGRADE = [("Upgrade", "websocket"), ("Connection", "Upgrade")]


def request(path: str = "/v1/realtime?model=gpt-realtime", *headers: tuple[str, str]) -> Request:
    return Request(path, Headers([*UPGRADE, *headers]))


def refused(decision: Refuse | Accept | Relay) -> tuple[int, str | None]:
    """The status and the OpenAI error code of a refusal."""
    assert isinstance(decision, Refuse), decision
    body = json.loads(decision.response.body or b"")
    return decision.response.status_code, body["error"]["code"]


def accepted(decision: Refuse | Accept | Relay) -> Accept:
    assert isinstance(decision, Accept), decision
    return decision


MOUNTS = {"": Mount()}


def test_an_accepted_handshake_carries_the_dialect_model_and_redacted_handshake() -> None:
    decision = accepted(decide(request("/v1/realtime?model=gpt-realtime", KEY), MOUNTS))
    assert (decision.dialect, decision.model, decision.refusal) == (
        Dialect.GA,
        "gpt-realtime",
        None,
    )
    assert decision.api_key == "sk-test"
    assert decision.handshake.path == "/v1/realtime" and decision.handshake.dialect == "ga"
    assert "sk-test" not in repr(decision.handshake.headers)  # the transcript never holds it


def test_no_model_is_the_default_model() -> None:
    assert accepted(decide(request("/v1/realtime", KEY), MOUNTS)).model == "gpt-realtime"


@pytest.mark.parametrize(
    ("path", "headers", "code"),
    [
        ("/v1/realtime", [], "missing_api_key"),
        ("/v1/realtime?api_key=sk-x", [], "missing_api_key"),
        ("/v1/realtime", [("Authorization", "Bearer sk-wrong")], "invalid_api_key"),
    ],
)
def test_a_missing_or_wrong_key_is_a_401(
    path: str, headers: list[tuple[str, str]], code: str
) -> None:
    mounts = {"": Mount(api_keys=frozenset({"sk-good"}))}
    assert refused(decide(request(path, *headers), mounts)) == (401, code)


def test_a_key_in_the_query_is_told_to_move_to_a_header() -> None:
    decision = decide(request("/v1/realtime?api_key=sk-x"), MOUNTS)
    assert isinstance(decision, Refuse)
    assert b"as a query parameter" in (decision.response.body or b"")


@pytest.mark.parametrize("path", ["/v1/chat", "/nowhere/v1/realtime"])
def test_an_unknown_path_or_prefix_is_a_404(path: str) -> None:
    assert refused(decide(request(path, KEY), MOUNTS)) == (404, None)


def test_plain_http_on_the_realtime_path_is_a_426_that_says_where_to_connect() -> None:
    decision = decide(Request("/v1/realtime", Headers([KEY])), MOUNTS, origin="ws://127.0.0.1:9999")
    assert refused(decision) == (426, "upgrade_required")
    assert isinstance(decision, Refuse)
    assert b"ws://127.0.0.1:9999/v1/realtime?model=gpt-realtime" in (decision.response.body or b"")


def test_a_policy_refuses_by_attempt_before_the_key_is_checked() -> None:
    seen: list[int] = []

    def busy_twice(attempt: int, _: Request) -> Response | None:
        seen.append(attempt)
        if attempt <= 2:
            return openai_error(429, "Rate limit reached", code="rate_limit_exceeded")
        return None

    mounts = {"": Mount(handshake_policy=busy_twice)}
    assert refused(decide(request(), mounts, attempt=1)) == (429, "rate_limit_exceeded")
    assert refused(decide(request(), mounts, attempt=2)) == (429, "rate_limit_exceeded")
    assert refused(decide(request(), mounts, attempt=3)) == (401, "missing_api_key")
    assert seen == [1, 2, 3]


@pytest.mark.parametrize(
    "asks",
    [
        ("OpenAI-Beta", "realtime=v1"),
        ("Sec-WebSocket-Protocol", "realtime, openai-beta.realtime-v1"),
    ],
)
def test_beta_is_asked_for_by_header_or_subprotocol(asks: tuple[str, str]) -> None:
    decision = accepted(decide(request("/v1/realtime?model=gpt-realtime", KEY, asks), MOUNTS))
    assert decision.dialect is Dialect.BETA and decision.refusal is None


def test_the_realtime_subprotocol_is_chosen_when_offered() -> None:
    offered = ("Sec-WebSocket-Protocol", "realtime, openai-insecure-api-key.sk-test")
    decision = accepted(decide(request("/v1/realtime?model=gpt-realtime", offered), MOUNTS))
    assert decision.subprotocol == "realtime" and decision.api_key == "sk-test"
    assert accepted(decide(request("/v1/realtime", KEY), MOUNTS)).subprotocol is None


def test_a_mount_of_one_dialect_ignores_what_the_client_asks() -> None:
    mounts = {"": Mount(dialect=Dialect.GA)}
    beta = ("OpenAI-Beta", "realtime=v1")
    assert accepted(decide(request("/v1/realtime", KEY, beta), mounts)).dialect is Dialect.GA


def test_a_retired_beta_is_accepted_then_refused_in_band() -> None:
    mounts = {"": Mount(beta="retired")}
    decision = accepted(
        decide(request("/v1/realtime", KEY, ("OpenAI-Beta", "realtime=v1")), mounts)
    )
    assert decision.refusal is not None and decision.refusal[0] == "beta_api_shape_disabled"
    assert decision.model == ""  # refused: no default model is made up


def test_an_unknown_model_is_refused_in_band_unless_any_model() -> None:
    path = "/v1/realtime?model=gpt-nope"
    decision = accepted(decide(request(path, KEY), MOUNTS))
    assert decision.refusal is not None and decision.refusal[0] == "missing_model"
    assert accepted(decide(request(path, KEY), {"": Mount(any_model=True)})).refusal is None


def test_the_session_limit_is_a_503() -> None:
    decision = decide(request(), MOUNTS, open_sessions=2, max_sessions=2)
    assert refused(decision) == (401, "missing_api_key")  # the key is checked first
    decision = decide(request("/v1/realtime", KEY), MOUNTS, open_sessions=2, max_sessions=2)
    assert refused(decision) == (503, "too_many_sessions")


def test_azure_paths_need_an_api_version() -> None:
    path = "/openai/realtime?deployment=gpt-realtime"
    assert refused(decide(request(path, KEY), MOUNTS)) == (400, "missing_required_parameter")
    decision = accepted(decide(request(path + "&api-version=2025-04-01-preview", KEY), MOUNTS))
    assert decision.model == "gpt-realtime"


def test_a_mount_with_an_upstream_relays_without_checking_the_key() -> None:
    upstream = Upstream(url="wss://upstream.invalid/v1/realtime", api_key=None)
    mounts = {"/rec": Mount(prefix="/rec", upstream=upstream)}
    beta = ("OpenAI-Beta", "realtime=v1")
    decision = decide(request("/rec/v1/realtime?model=gpt-realtime", beta), mounts)
    assert isinstance(decision, Relay)
    assert decision.upstream is upstream and decision.dialect is Dialect.BETA
    assert decision.handshake.mount == "/rec" and decision.handshake.model == "gpt-realtime"


def test_an_upstream_that_does_not_relay_this_attempt_lets_the_mount_answer() -> None:
    upstream = Upstream(api_key=None, relays=lambda: False)
    decision = decide(request("/v1/realtime", KEY), {"": Mount(upstream=upstream)})
    assert isinstance(decision, Accept)


def test_select_finds_the_mount_by_prefix() -> None:
    other = Mount(prefix="/t/x")
    target = select(request("/t/x/v1/realtime/?model=m", KEY), MOUNTS | {"/t/x": other}, origin="")
    assert not isinstance(target, Refuse)
    assert (target.mount, target.prefix, target.suffix, target.query["model"]) == (
        other,
        "/t/x",
        "/v1/realtime",
        "m",
    )


def test_a_malformed_subprotocol_list_is_a_400_without_the_key() -> None:
    offered = ("Sec-WebSocket-Protocol", "realtime, openai-insecure-api-key.sk-SECRET/x")
    decision = decide(request("/v1/realtime", offered), MOUNTS)
    assert refused(decision) == (400, "invalid_subprotocol")
    assert isinstance(decision, Refuse) and b"sk-SECRET" not in (decision.response.body or b"")


@pytest.mark.parametrize("prefix", ["", "/t/azure"])
def test_azure_v1_path_takes_the_deployment_as_model_and_no_api_version(prefix: str) -> None:
    mounts = {prefix: Mount(prefix=prefix)}
    path = f"{prefix}/openai/v1/realtime?model=my-voice-bot"
    decision = accepted(decide(request(path, ("api-key", "azure-key")), mounts))
    assert decision.model == "my-voice-bot" and decision.refusal is None  # any deployment name
    assert decision.api_key == "azure-key"
    assert refused(decide(request(path), mounts)) == (401, "missing_api_key")
