"""Every library scenario, played with a well-behaved client (ok) and a misbehaving one
(the verdict names the mistake)."""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed, InvalidStatus

from harness.client import (
    AuthenticationError,
    Backoff,
    ClientConfig,
    ClientError,
    HandshakeRefused,
    RealtimeClient,
    SessionError,
)
from mock_server import audio
from mock_server.scenario.loader import library, load_scenario, resolve_scenario
from mock_server.scenario.served import ServedScenario
from mock_server.scenario.verdict import ScenarioVerdict
from mock_server.server import MockServer
from tests.helpers import WAIT, serving, user_text

FIXTURES = Path(__file__).resolve().parents[3] / "fixtures" / "audio"
Client = Callable[[MockServer, str], Awaitable[None]]


async def play(name: str, client: Client, dialect: str = "ga") -> ScenarioVerdict:
    """Serve scenario ``name``, run ``client`` against it, return the verdict."""
    scenario = ServedScenario(load_scenario(resolve_scenario(name)))
    async with serving(scenario.mount()) as server:
        await asyncio.wait_for(client(server, dialect), 30)
        await server.wait_for_sessions(at_most=0)
    return scenario.verdict()


def config(server: MockServer, dialect: str, **kwargs: Any) -> ClientConfig:
    model = "gpt-realtime" if dialect == "ga" else "gpt-4o-realtime-preview"
    kwargs.setdefault("session", {"output_modalities": ["text"]})
    return ClientConfig(
        url=server.ws_url, api_key="sk-test", model=model, dialect=dialect, timeout_s=WAIT, **kwargs
    )  # type: ignore[arg-type]


class Raw:
    """A plain websockets client for scripted (mis)behaviour."""

    def __init__(self, ws: ClientConnection) -> None:
        self.ws = ws
        self.seen: list[dict[str, Any]] = []

    async def send(self, event: dict[str, Any]) -> None:
        await self.ws.send(json.dumps(event))

    async def until(self, *types: str) -> dict[str, Any]:
        while True:
            event = json.loads(await asyncio.wait_for(self.ws.recv(), WAIT))
            self.seen.append(event)
            if event["type"] in types:
                return event


async def raw(server: MockServer, dialect: str, suffix: str = "?model=gpt-realtime") -> Raw:
    headers = {"Authorization": "Bearer sk-test"}
    if dialect == "beta":
        headers["OpenAI-Beta"] = "realtime=v1"
    ws = await connect(server.ws_url + suffix, additional_headers=headers, max_size=None)
    client = Raw(ws)
    await client.until("session.created")
    return client


def findings(verdict: ScenarioVerdict) -> str:
    return "\n".join(verdict.findings + verdict.warnings)


def test_every_library_scenario_is_exercised_here() -> None:
    tested = {name for name, _, _ in CASES}
    assert set(library()) == tested, set(library()) ^ tested


# ---- clients ----------------------------------------------------------------------------------


async def good_text(server: MockServer, dialect: str) -> None:
    async with RealtimeClient(config(server, dialect)) as client:
        turn = await client.say("Hello")
        assert turn.text


async def bad_no_response(server: MockServer, dialect: str) -> None:
    client = await raw(server, dialect)
    await client.send(user_text("Hello"))
    await client.until("conversation.item.done", "conversation.item.created")
    await client.ws.close()


async def good_tools(server: MockServer, dialect: str) -> None:
    tools = {
        "get_weather": lambda args: {"sky": "sunny", "city": args["city"]},
        "get_forecast": lambda args: {"days": args["days"]},
    }
    async with RealtimeClient(config(server, dialect, tools=tools)) as client:
        turn = await client.say("Weather?")
        assert turn.text


async def bad_wrong_call_id(server: MockServer, dialect: str) -> None:
    client = await raw(server, dialect)
    await client.send(user_text("Weather?"))
    await client.send({"type": "response.create"})
    await client.until("response.done")
    await client.send(
        {
            "type": "conversation.item.create",
            "item": {"type": "function_call_output", "call_id": "call_made_up", "output": "{}"},
        }
    )
    await client.send({"type": "response.create"})
    await client.until("response.done")
    await client.ws.close()


async def bad_no_tool_output(server: MockServer, dialect: str) -> None:
    client = await raw(server, dialect)
    await client.send({"type": "response.create"})
    await client.until("response.done")
    await client.send({"type": "response.create"})  # without the tool's output
    await client.until("response.done")
    await client.ws.close()


async def good_refused(server: MockServer, dialect: str, *, key: str | None = "sk-test") -> None:
    cfg = config(server, dialect)
    cfg.api_key = key or ""
    with pytest.raises((AuthenticationError, HandshakeRefused)):
        await RealtimeClient(cfg).connect()


async def good_missing_key(server: MockServer, dialect: str) -> None:
    with pytest.raises(InvalidStatus) as refused:
        await connect(server.ws_url + "?model=gpt-realtime")
    assert refused.value.response.status_code == 401


async def bad_retries_401(server: MockServer, dialect: str) -> None:
    for _ in range(3):
        with pytest.raises(InvalidStatus):
            await connect(server.ws_url + "?model=gpt-realtime")


async def good_key_in_query(server: MockServer, dialect: str) -> None:
    with pytest.raises(InvalidStatus) as refused:
        await connect(server.ws_url + "?model=gpt-realtime&api_key=sk-test")
    assert b"query parameter" in (refused.value.response.body or b"")


async def bad_key_in_query_retries(server: MockServer, dialect: str) -> None:
    for _ in range(2):
        with pytest.raises(InvalidStatus):
            await connect(server.ws_url + "?model=gpt-realtime&api_key=sk-test")


async def good_invalid_key(server: MockServer, dialect: str) -> None:
    await good_refused(server, dialect, key="sk-wrong")


async def bad_invalid_key_retries(server: MockServer, dialect: str) -> None:
    for _ in range(2):
        with pytest.raises(InvalidStatus):
            await connect(server.ws_url, additional_headers={"Authorization": "Bearer sk-wrong"})


async def good_beta(server: MockServer, dialect: str) -> None:
    await good_text(server, "beta")


async def bad_beta_without_header(server: MockServer, dialect: str) -> None:
    with pytest.raises(InvalidStatus) as refused:
        await connect(server.ws_url, additional_headers={"Authorization": "Bearer sk-test"})
    assert refused.value.response.status_code == 400


async def good_ga(server: MockServer, dialect: str) -> None:
    await good_text(server, "ga")


async def bad_still_beta(server: MockServer, dialect: str) -> None:
    with pytest.raises(SessionError, match="beta_api_shape_disabled"):
        await RealtimeClient(config(server, "beta")).connect()


async def good_unknown_model(server: MockServer, dialect: str) -> None:
    async with connect(server.ws_url, additional_headers={"Authorization": "Bearer sk-test"}) as ws:
        client = Raw(ws)
        error = await client.until("error")
        assert error["error"]["code"] == "missing_model"
        with pytest.raises(ConnectionClosed):
            await client.until("never")


async def bad_reconnects_unknown_model(server: MockServer, dialect: str) -> None:
    for _ in range(2):
        await good_unknown_model(server, dialect)


async def good_backoff(server: MockServer, dialect: str) -> None:
    await good_text(server, dialect)


async def bad_no_backoff(server: MockServer, dialect: str) -> None:
    cfg = config(server, dialect, backoff=Backoff(retries=3))
    cfg.backoff.delay = lambda attempt, retry_after=None: 0.0  # type: ignore[method-assign]
    async with RealtimeClient(cfg) as client:
        await client.say("now")


async def good_mid_error(server: MockServer, dialect: str) -> None:
    async with RealtimeClient(config(server, dialect)) as client:
        await client.say("one")
        await client.wait_for("error")
        await client.say("two")


async def bad_gives_up_on_error(server: MockServer, dialect: str) -> None:
    async with RealtimeClient(config(server, dialect)) as client:
        await client.say("one")
        await client.wait_for("error")


async def good_expiry(server: MockServer, dialect: str) -> None:
    async with RealtimeClient(config(server, dialect)) as client:
        await client.say("First")
        assert client.ws is not None
        await asyncio.wait_for(client.ws.wait_closed(), WAIT)
        turn = await client.say("Second")
        assert turn.text == "Picking up where we left off."


async def bad_no_replay(server: MockServer, dialect: str) -> None:
    async with RealtimeClient(config(server, dialect)) as client:
        await client.say("First")
        assert client.ws is not None
        await asyncio.wait_for(client.ws.wait_closed(), WAIT)
        client.history.clear()  # forgets the conversation
        await client.say("Second")


async def good_reconnect(server: MockServer, dialect: str) -> None:
    async with RealtimeClient(config(server, dialect)) as client:
        for turn in range(1, 6):
            reply = await client.say(f"Turn {turn}.")
            if turn < 5:
                assert client.ws is not None
                await asyncio.wait_for(client.ws.wait_closed(), WAIT)
        assert reply.text == "Answer five: all of it replayed."
        assert client.reconnects == 4  # after 1006 (the cut), 1011, 1012 and 1013


async def bad_reconnect_without_replay(server: MockServer, dialect: str) -> None:
    async with RealtimeClient(config(server, dialect)) as client:
        await client.say("Turn 1.")
        assert client.ws is not None
        await asyncio.wait_for(client.ws.wait_closed(), WAIT)
        client.history.clear()  # reconnects, but as if the conversation had not happened
        with contextlib.suppress(asyncio.TimeoutError, ClientError):
            await asyncio.wait_for(client.say("Turn 2."), 3)


def _question() -> bytes:
    return audio.load_wav(FIXTURES / "question.wav").tobytes() + bytes(48 * 1000)


def _paused() -> bytes:
    return audio.load_wav(FIXTURES / "pause_600ms.wav").tobytes() + bytes(48 * 1200)


async def good_vad(server: MockServer, dialect: str) -> None:
    client = await raw(server, dialect)
    for piece in audio.chunk(_question(), 40):
        await client.send({"type": "input_audio_buffer.append", "audio": audio.encode_b64(piece)})
    await client.until("response.done")
    await client.ws.close()


async def bad_vad_commits_too(server: MockServer, dialect: str) -> None:
    client = await raw(server, dialect)
    await client.send(
        {"type": "input_audio_buffer.append", "audio": audio.encode_b64(bytes(48 * 50))}
    )
    await client.send({"type": "input_audio_buffer.commit"})  # 50 ms: too little to commit
    await client.until("error")
    await client.ws.close()


async def good_manual_commit(server: MockServer, dialect: str) -> None:
    client = await raw(server, dialect)
    for piece in audio.chunk(_question(), 40):
        await client.send({"type": "input_audio_buffer.append", "audio": audio.encode_b64(piece)})
    await client.send({"type": "input_audio_buffer.commit"})
    await client.send({"type": "response.create"})
    await client.until("response.done")
    await client.ws.close()


async def bad_never_commits(server: MockServer, dialect: str) -> None:
    client = await raw(server, dialect)
    for piece in audio.chunk(_question(), 40):
        await client.send({"type": "input_audio_buffer.append", "audio": audio.encode_b64(piece)})
    await client.send({"type": "response.create"})
    await client.until("response.done")
    await client.ws.close()


def _stream_paused(expected_responses: int) -> Client:
    async def run(server: MockServer, dialect: str) -> None:
        client = await raw(server, dialect)
        for piece in audio.chunk(_paused(), 40):
            await client.send(
                {"type": "input_audio_buffer.append", "audio": audio.encode_b64(piece)}
            )
        for _ in range(expected_responses):
            await client.until("response.done")
        await client.ws.close()

    return run


async def bad_vad_gives_up_after_first(server: MockServer, dialect: str) -> None:
    client = await raw(server, dialect)
    for piece in audio.chunk(_paused()[: 48 * 1500], 40):
        await client.send({"type": "input_audio_buffer.append", "audio": audio.encode_b64(piece)})
    await client.ws.close()


async def good_text_where_audio(server: MockServer, dialect: str) -> None:
    await good_manual_commit(server, dialect)


async def bad_types_the_audio(server: MockServer, dialect: str) -> None:
    client = await raw(server, dialect)
    await client.send(user_text("(what the user said)"))
    await client.send({"type": "response.create"})
    await client.until("response.done")
    await client.ws.close()


async def good_text_only(server: MockServer, dialect: str) -> None:
    await good_text(server, dialect)


async def bad_appends_audio_to_text_only(server: MockServer, dialect: str) -> None:
    client = await raw(server, dialect)
    await client.send({"type": "input_audio_buffer.append", "audio": "AAAA"})
    await client.send({"type": "response.create"})
    await client.until("response.done")
    await client.send({"type": "response.cancel"})
    await client.until("error")
    await client.ws.close()


async def good_barge_in(server: MockServer, dialect: str) -> None:
    cfg = config(server, dialect, session={"output_modalities": ["audio"]})
    async with RealtimeClient(cfg) as client:
        await client.send({"type": "response.create"})
        # The user talks over the answer once it plays (server VAD hears it while the reply
        # streams; the reply starts after the model's latency). The first delta stays for
        # read_response, which truncates at what was received.
        await client.wait_for("response.output_audio.delta", "response.audio.delta", keep=True)
        for piece in audio.chunk(audio.load_wav(FIXTURES / "question.wav").tobytes(), 100):
            await client.send(
                {"type": "input_audio_buffer.append", "audio": audio.encode_b64(piece)}
            )
        turn = await client.read_response()
        assert turn.status == "cancelled"


async def bad_no_truncate(server: MockServer, dialect: str) -> None:
    client = await raw(server, dialect)
    await client.send({"type": "response.create"})
    await client.until("response.output_audio.delta", "response.audio.delta")
    for piece in audio.chunk(audio.load_wav(FIXTURES / "question.wav").tobytes(), 100):
        await client.send({"type": "input_audio_buffer.append", "audio": audio.encode_b64(piece)})
    await client.until("response.done")
    await client.ws.close()


async def _late_answer(server: MockServer, dialect: str) -> Raw:
    client = await raw(server, dialect)
    await client.send({"type": "response.create"})
    await client.until("response.content_part.added")  # its audio is 20 s late
    for piece in audio.chunk(audio.load_wav(FIXTURES / "question.wav").tobytes(), 100):
        await client.send({"type": "input_audio_buffer.append", "audio": audio.encode_b64(piece)})
    await client.until("input_audio_buffer.speech_started")
    return client


async def good_no_truncate_before_audio(server: MockServer, dialect: str) -> None:
    client = await _late_answer(server, dialect)
    done = await client.until("response.done")
    assert done["response"]["status"] == "cancelled"
    assert not [e for e in client.seen if e["type"].endswith("audio.delta")]
    await client.ws.close()


async def bad_truncates_before_audio(server: MockServer, dialect: str) -> None:
    client = await _late_answer(server, dialect)
    added = next(e for e in client.seen if e["type"] == "response.output_item.added")
    await client.send(
        {
            "type": "conversation.item.truncate",
            "item_id": added["item"]["id"],
            "content_index": 0,
            "audio_end_ms": 0,  # nothing played (livekit/agents#6157)
        }
    )
    error = await client.until("error")
    assert error["error"]["code"] == "unsupported_content_type"
    await client.ws.close()


async def _truncate_after_a_second(server: MockServer, dialect: str, extra_ms: int) -> None:
    client = await raw(server, dialect, "?model=gpt-realtime")
    await client.send({"type": "response.create"})
    received, item_id = 0, ""
    while received < 1000:
        delta = await client.until("response.output_audio.delta", "response.audio.delta")
        received += len(audio.decode_b64(delta["delta"])) // 48
        item_id = delta["item_id"]
    await client.send(
        {
            "type": "conversation.item.truncate",
            "item_id": item_id,
            "content_index": 0,
            "audio_end_ms": received + extra_ms,
        }
    )
    await client.until("conversation.item.truncated", "error")
    await client.ws.close()


async def good_truncate_within_audio(server: MockServer, dialect: str) -> None:
    await _truncate_after_a_second(server, dialect, 0)


async def bad_truncate_by_wall_clock(server: MockServer, dialect: str) -> None:
    # Two seconds of wall clock past what came: openai-agents-python#4122.
    await _truncate_after_a_second(server, dialect, 2000)


async def good_cancel(server: MockServer, dialect: str) -> None:
    client = await raw(server, dialect)
    await client.send({"type": "response.create"})
    await client.until("response.output_text.delta", "response.text.delta")
    await client.send({"type": "response.cancel"})
    done = await client.until("response.done")
    assert done["response"]["status"] == "cancelled"
    await client.ws.close()


async def bad_cancel_too_late(server: MockServer, dialect: str) -> None:
    client = await raw(server, dialect)
    await client.send({"type": "response.create"})
    await client.until("response.done")
    await client.send({"type": "response.cancel"})
    await client.until("error")
    await client.ws.close()


async def good_waits(server: MockServer, dialect: str) -> None:
    client = await raw(server, dialect)
    for _ in range(2):
        await client.send({"type": "response.create"})
        await client.until("response.done")
    await client.ws.close()


async def bad_does_not_wait(server: MockServer, dialect: str) -> None:
    client = await raw(server, dialect)
    await client.send({"type": "response.create"})
    await client.until("response.created")
    await client.send({"type": "response.create"})
    await client.until("error")
    await client.ws.close()


def _mcp(label: str, require_approval: str) -> dict[str, Any]:
    url = f"https://{label}.example.com/mcp"
    return {
        "type": "mcp",
        "server_label": label,
        "server_url": url,
        "require_approval": require_approval,
    }


def good_mcp(label: str, require_approval: str) -> Client:
    async def client(server: MockServer, dialect: str) -> None:
        session = {"output_modalities": ["text"], "tools": [_mcp(label, require_approval)]}
        async with RealtimeClient(config(server, dialect, session=session)) as client:
            turn = await client.say("Please look it up.")
            assert turn.items[0]["type"] == "mcp_call", turn.items
            assert turn.items[0]["output"] and turn.text

    return client


async def bad_mcp_not_configured(server: MockServer, dialect: str) -> None:
    client = await raw(server, dialect)
    await client.send(user_text("How long can a session last?"))
    await client.send({"type": "response.create"})
    await client.until("response.done")
    await client.ws.close()


async def _ask_calendar(server: MockServer, dialect: str) -> tuple[Raw, dict[str, Any]]:
    client = await raw(server, dialect)
    tools = [_mcp("calendar", "always")]
    await client.send({"type": "session.update", "session": {"type": "realtime", "tools": tools}})
    await client.send(user_text("What's on my calendar?"))
    await client.send({"type": "response.create"})
    done = await client.until("response.done")
    return client, done["response"]["output"][0]


async def bad_mcp_approves_no_request(server: MockServer, dialect: str) -> None:
    client, request = await _ask_calendar(server, dialect)
    assert request["type"] == "mcp_approval_request", request
    item = {"type": "mcp_approval_response", "id": "mcpa_1", "approve": True}
    item["approval_request_id"] = "mcpr_made_up"
    await client.send({"type": "conversation.item.create", "item": item})
    await client.send({"type": "response.create"})
    await client.until("response.done")
    await client.ws.close()


async def bad_mcp_goes_on_without_answering(server: MockServer, dialect: str) -> None:
    client, _ = await _ask_calendar(server, dialect)
    await client.send({"type": "response.create"})
    done = await client.until("response.done")
    assert "mcp_call" not in [i["type"] for i in done["response"]["output"]]
    await client.ws.close()


async def test_a_response_without_the_approval_is_in_the_verdict() -> None:
    verdict = await play("mcp_approval", bad_mcp_goes_on_without_answering)
    assert not verdict.ok
    assert "pending_mcp_approval" in findings(verdict), findings(verdict)


# name, good client, (bad client, what the verdict must say)
CASES: list[tuple[str, Client, tuple[Client, str]]] = [
    ("text_turn", good_text, (bad_no_response, "response.create")),
    ("audio_vad", good_vad, (bad_vad_commits_too, "input_audio_buffer_commit_empty")),
    ("manual_commit", good_manual_commit, (bad_never_commits, "input_audio_buffer.commit")),
    ("function_call", good_tools, (bad_wrong_call_id, "call_made_up")),
    ("function_call_sequential", good_tools, (bad_no_tool_output, "pending_function_call")),
    ("function_call_parallel", good_tools, (bad_no_tool_output, "pending_function_call")),
    ("missing_key", good_missing_key, (bad_retries_401, "made 3")),
    ("key_in_query", good_key_in_query, (bad_key_in_query_retries, "made 2")),
    ("invalid_key", good_invalid_key, (bad_invalid_key_retries, "made 2")),
    ("beta_only", good_beta, (bad_beta_without_header, "expected 1 accepted connection")),
    ("beta_retired", good_ga, (bad_still_beta, "the connection ended first")),
    ("unknown_model", good_unknown_model, (bad_reconnects_unknown_model, "made 2")),
    ("rate_limit_then_success", good_backoff, (bad_no_backoff, "retry-after 1s")),
    ("mid_session_error", good_mid_error, (bad_gives_up_on_error, "connection ended first")),
    ("session_expired", good_expiry, (bad_no_replay, "role")),
    ("reconnect", good_reconnect, (bad_reconnect_without_replay, "role")),
    ("vad_cut_off", _stream_paused(2), (bad_vad_gives_up_after_first, "never asked")),
    ("vad_not_cut", _stream_paused(1), (bad_vad_gives_up_after_first, "never asked")),
    (
        "input_text_for_audio",
        good_text_where_audio,
        (bad_types_the_audio, "input_audio_buffer.commit"),
    ),
    (
        "text_only_session",
        good_text_only,
        (bad_appends_audio_to_text_only, "audio_in_text_only_session"),
    ),
    ("barge_in", good_barge_in, (bad_no_truncate, "conversation.item.truncate")),
    (
        "barge_in_before_audio",
        good_no_truncate_before_audio,
        (bad_truncates_before_audio, "unsupported_content_type"),
    ),
    ("truncate_past_audio", good_truncate_within_audio, (bad_truncate_by_wall_clock, "shorter")),
    ("response_cancel", good_cancel, (bad_cancel_too_late, "response_cancel_not_active")),
    (
        "response_while_active",
        good_waits,
        (bad_does_not_wait, "conversation_already_has_active_response"),
    ),
    ("mcp_call", good_mcp("docs", "never"), (bad_mcp_not_configured, "session.update")),
    (
        "mcp_approval",
        good_mcp("calendar", "always"),
        (bad_mcp_approves_no_request, "unknown_approval_request"),
    ),
]

BOTH = ["ga", "beta"]
ONE_DIALECT = {
    "beta_only": ["beta"],
    "beta_retired": ["ga"],
    "mcp_call": ["ga"],
    "mcp_approval": ["ga"],
}


@pytest.mark.parametrize(
    ("name", "good", "dialect"),
    [(n, g, d) for n, g, _ in CASES for d in ONE_DIALECT.get(n, BOTH)],
)
async def test_a_well_behaved_client_passes(name: str, good: Client, dialect: str) -> None:
    verdict = await play(name, good, dialect)
    assert verdict.ok, findings(verdict)


@pytest.mark.parametrize(("name", "bad"), [(n, b) for n, _, b in CASES])
async def test_a_misbehaving_client_is_caught(name: str, bad: tuple[Client, str]) -> None:
    client, said = bad
    dialect = ONE_DIALECT.get(name, ["ga"])[0]
    verdict = await play(name, client, dialect)
    assert not verdict.ok
    assert said in findings(verdict), findings(verdict)


async def test_the_verdict_is_json() -> None:
    verdict = await play("function_call", bad_wrong_call_id)
    again = json.loads(json.dumps(verdict.to_dict()))
    assert again["scenario"] == "function_call" and again["connections"][0]["mistakes"]
