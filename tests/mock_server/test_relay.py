"""Pass-through: frames unchanged both ways, upstream refusals as the same HTTP answer, keys.

The upstream is a second realtime-mock on 127.0.0.1.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from pathlib import Path
from typing import Any

import pytest
import yaml
from websockets.asyncio.client import connect
from websockets.asyncio.server import ServerConnection, serve
from websockets.exceptions import ConnectionClosed, InvalidStatus
from websockets.http11 import Request, Response

from mock_server.protocol.http import openai_error
from mock_server.record import Recorder
from mock_server.relay import (
    RELAY_FAILED,
    RULE_PROBLEM,
    Relay,
    Upstream,
    is_real_key,
    upstream_key,
)
from mock_server.relay.faults import RelayActions
from mock_server.scenario import actions
from mock_server.scenario.actions import GARBAGE, Actions
from mock_server.scenario.loader import ScenarioError, load_scenario_text
from mock_server.scenario.model import PASSTHROUGH_ACTIONS, Step
from mock_server.scenario.served import ServedScenario
from mock_server.server import HANDSHAKE_TIMEOUT, MockServer, Mount
from mock_server.transcript import Direction, Transcript
from tests.helpers import KEY, WAIT, connected, serving

REAL_KEY = "sk-proj-" + "R" * 40
ITEM = {
    "type": "conversation.item.create",
    "event_id": "evt_mine",
    "item": {"type": "message", "role": "user", "content": [{"type": "input_text", "text": "hi"}]},
}


@pytest.fixture
async def upstream() -> AsyncIterator[MockServer]:
    async with serving(Mount(pace=0.0, seed="up")) as server:
        yield server


def relaying(upstream: MockServer, api_key: str | None) -> MockServer:
    return MockServer(port=0, default_mount=Mount(upstream=Upstream(upstream.ws_url, api_key)))


async def test_frames_pass_unchanged_both_ways(upstream: MockServer) -> None:
    async with relaying(upstream, api_key=None) as proxy:
        headers = {"Authorization": "Bearer sk-test"}
        async with connect(f"{proxy.ws_url}?model=gpt-realtime", additional_headers=headers) as ws:
            received = [await asyncio.wait_for(ws.recv(), WAIT)]
            await ws.send(json.dumps(ITEM))
            for _ in range(2):
                received.append(await asyncio.wait_for(ws.recv(), WAIT))
        await proxy.wait_for_sessions(0)
        await upstream.wait_for_sessions(0)
        relayed = proxy.connections[0].transcript
    upstream_transcript = upstream.connections[0].transcript
    # The upstream got the client's event as sent (its own event_id too) ...
    assert upstream_transcript.client_events() == [ITEM]
    # ... and the client got the upstream's events as sent (ids and all).
    assert [json.loads(frame) for frame in received] == upstream_transcript.server_events()
    # The relay's transcript holds both directions.
    assert relayed.client_events() == [ITEM]
    assert relayed.server_events() == upstream_transcript.server_events()
    assert relayed.handshake is not None and relayed.handshake.model == "gpt-realtime"


async def test_an_upstream_refusal_reaches_the_client_as_the_same_http_answer() -> None:
    def busy(attempt: int, request: Request) -> Response:
        return openai_error(
            429,
            "Rate limit reached for requests.",
            code="rate_limit_exceeded",
            type_="requests",
            headers=[("retry-after", "7")],
        )

    async with (
        MockServer(port=0, default_mount=Mount(handshake_policy=busy)) as refusing,
        relaying(refusing, api_key=None) as proxy,
    ):
        with pytest.raises(InvalidStatus) as refused:
            await connect(proxy.ws_url, additional_headers={"Authorization": "Bearer sk-test"})
    response = refused.value.response
    assert response.status_code == 429
    assert response.headers["retry-after"] == "7"
    body = json.loads(response.body or b"")
    assert body["error"]["code"] == "rate_limit_exceeded"
    assert body["error"]["message"] == "Rate limit reached for requests."


async def test_a_wrong_key_upstream_is_a_401_for_the_client() -> None:
    strict = Mount(api_keys=frozenset({REAL_KEY}))
    async with (
        MockServer(port=0, default_mount=strict) as guarded,
        relaying(guarded, api_key="sk-wrong") as proxy,
    ):
        with pytest.raises(InvalidStatus) as refused:
            await connect(proxy.ws_url, additional_headers={"Authorization": "Bearer sk-mock"})
    assert refused.value.response.status_code == 401
    assert b"invalid_api_key" in (refused.value.response.body or b"")


@pytest.mark.parametrize(
    ("client_key", "configured", "used"),
    [
        ("sk-mock", REAL_KEY, REAL_KEY),  # a placeholder: the recording process's key
        (REAL_KEY, "sk-other-configured", REAL_KEY),  # the client's own real key
        (None, REAL_KEY, REAL_KEY),
    ],
)
async def test_the_upstream_key(client_key: str | None, configured: str, used: str) -> None:
    assert upstream_key(client_key, configured) == used
    strict = Mount(api_keys=frozenset({REAL_KEY}))
    async with (
        MockServer(port=0, default_mount=strict) as guarded,
        relaying(guarded, api_key=configured) as proxy,
    ):
        headers = {"Authorization": f"Bearer {client_key}"} if client_key else {}
        url = f"{proxy.ws_url}?model=gpt-realtime&api_key=in-the-query"
        async with connect(url, additional_headers=headers) as ws:
            first = json.loads(await asyncio.wait_for(ws.recv(), WAIT))
        await guarded.wait_for_sessions(0)
    assert first["type"] == "session.created"
    assert guarded.connections[0].api_key == used
    handshake = guarded.connections[0].transcript.handshake
    assert handshake is not None and "api_key" not in handshake.query  # never forwarded


def test_real_keys_are_told_from_placeholders() -> None:
    assert not is_real_key("sk-test-SECRET123")
    assert is_real_key(REAL_KEY)
    assert not is_real_key(None)


async def test_an_upstream_close_reaches_the_client_with_its_code() -> None:
    retired = Mount(beta="retired")
    async with (
        MockServer(port=0, default_mount=retired) as live,
        relaying(live, api_key=None) as proxy,
    ):
        headers = {"Authorization": "Bearer sk-test", "OpenAI-Beta": "realtime=v1"}
        async with connect(f"{proxy.ws_url}?model=gpt-realtime", additional_headers=headers) as ws:
            error = json.loads(await asyncio.wait_for(ws.recv(), WAIT))
            with pytest.raises(ConnectionClosed):
                await asyncio.wait_for(ws.recv(), WAIT)
        assert error["error"]["code"] == "beta_api_shape_disabled"
        assert ws.close_code == 4000
        assert ws.close_reason == "invalid_request_error.beta_api_shape_disabled"
        await proxy.wait_for_sessions(0)
        assert proxy.connections[0].transcript.closed == (4000, ws.close_reason)


async def test_an_unreachable_upstream_is_a_502() -> None:
    async with MockServer(port=0) as placeholder:
        url = placeholder.ws_url
    # Nothing listens there any more.
    mount = Mount(upstream=Upstream(url=url, api_key=None, open_timeout=5))
    async with serving(mount) as proxy:
        with pytest.raises(InvalidStatus) as refused:
            await connect(proxy.ws_url, additional_headers={"Authorization": "Bearer sk-test"})
    assert refused.value.response.status_code == 502
    assert b"upstream_unreachable" in (refused.value.response.body or b"")


async def test_a_silent_upstream_is_a_502_within_the_clients_handshake() -> None:
    async def silent(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.read()  # accepts the connection, never answers the handshake
        writer.close()

    listener = await asyncio.start_server(silent, "127.0.0.1", 0)
    port = listener.sockets[0].getsockname()[1]
    mount = Mount(upstream=Upstream(url=f"ws://127.0.0.1:{port}", api_key=None, open_timeout=0.5))
    try:
        async with serving(mount) as proxy:
            with pytest.raises(InvalidStatus) as refused:
                await connect(proxy.ws_url, additional_headers={"Authorization": "Bearer sk-test"})
    finally:
        listener.close()
    assert refused.value.response.status_code == 502
    assert b"TimeoutError" in (refused.value.response.body or b"")
    # The default bound gives up on the upstream before the client's handshake is given up on.
    assert Upstream().open_timeout < HANDSHAKE_TIMEOUT


# ---- passthrough scenarios --------------------------------------------------------------------

PASSTHROUGH = """
name: live_with_faults
description: The live model answers; the second response.create meets a rate limit.
passthrough: true
connections:
  - {status: 429, retry_after: 0, code: rate_limit_exceeded}
  - {}
rules:
  - when: {type: response.create, after: 1}
    do:
      - error: {type: tokens, code: rate_limit_exceeded, message: Rate limit reached.}
"""


async def test_a_passthrough_scenario_scripts_faults_and_the_upstream_answers_the_rest(
    upstream: MockServer,
) -> None:
    play = ServedScenario(load_scenario_text(PASSTHROUGH), upstream=upstream.ws_url)
    async with serving(play.mount()) as server:
        headers = {"Authorization": "Bearer sk-test"}
        url = f"{server.ws_url}?model=gpt-realtime"
        with pytest.raises(InvalidStatus) as refused:
            await connect(url, additional_headers=headers)
        assert refused.value.response.status_code == 429
        async with connect(url, additional_headers=headers) as ws:

            async def until(last: str) -> dict[str, Any]:
                while True:
                    event = json.loads(await ws.recv())
                    if event["type"] == last:
                        return event

            await asyncio.wait_for(until("session.created"), WAIT)
            await ws.send(json.dumps(ITEM))
            await ws.send(json.dumps({"type": "response.create"}))
            done = await asyncio.wait_for(until("response.done"), WAIT)
            await ws.send(json.dumps({"type": "response.create"}))
            error = await asyncio.wait_for(until("error"), WAIT)
        await server.wait_for_sessions(0)
        await upstream.wait_for_sessions(0)
    assert done["response"]["status"] == "completed"  # the upstream's canned model answered
    assert error["error"]["code"] == "rate_limit_exceeded"
    # The scripted event took the request's place: the upstream saw one response.create only.
    assert len(upstream.connections[0].transcript.client_events("response.create")) == 1
    assert play.verdict().ok, str(play.verdict())


@pytest.mark.parametrize(
    ("extra", "says"),
    [
        ("steps: [{expect: response.create}]", "a passthrough scenario has no steps"),
        (
            "rules: [{when: response.create, do: [{respond: {text: hi}}]}]",
            "a passthrough rule cannot respond",
        ),
    ],
)
def test_passthrough_scenarios_script_faults_only(extra: str, says: str) -> None:
    text = f"name: x\ndescription: y\npassthrough: true\n{extra}\n"
    with pytest.raises(ScenarioError, match=says):
        load_scenario_text(text)


async def test_a_frame_too_deep_for_the_parser_is_relayed_and_noted(upstream: MockServer) -> None:
    # Deeper than the parser goes, yet under read_frame's bound on values (which would call
    # 100,000 brackets <invalid json> before parsing them).
    deep = "[" * 5_000 + "]" * 5_000
    async with relaying(upstream, api_key=None) as proxy:
        headers = {"Authorization": "Bearer sk-test"}
        async with connect(f"{proxy.ws_url}?model=gpt-realtime", additional_headers=headers) as ws:
            await asyncio.wait_for(ws.recv(), WAIT)  # session.created
            await ws.send(deep)
            # The upstream's own answer comes back: the relay went on.
            error = json.loads(await asyncio.wait_for(ws.recv(), WAIT))
            await ws.send(json.dumps(ITEM))
            added = json.loads(await asyncio.wait_for(ws.recv(), WAIT))
        await proxy.wait_for_sessions(0)
        relayed = proxy.connections[0].transcript
    assert error["type"] == "error" and error["error"]["code"] == "invalid_json"
    assert added["type"] == "conversation.item.added"
    assert [(e.direction, e.type) for e in relayed.entries][1] == ("client", "<too deep>")
    assert relayed.client_events() == [ITEM]


async def test_a_passthrough_rule_with_a_bad_template_is_noted_and_logged(
    upstream: MockServer, caplog: pytest.LogCaptureFixture
) -> None:
    text = (
        "name: x\ndescription: y\npassthrough: true\n"
        "rules:\n"
        "  - when: conversation.item.create\n"
        "    instead: false\n"
        "    do: [{send: {type: response.done, note: '{{ nope }}'}}]\n"
    )
    # Lint refuses the template; what the relay does with it anyway is tested here.
    play = ServedScenario(load_scenario_text(text, checked=False), upstream=upstream.ws_url)
    async with serving(play.mount()) as server:
        headers = {"Authorization": "Bearer sk-test"}
        async with connect(f"{server.ws_url}?model=gpt-realtime", additional_headers=headers) as ws:
            await asyncio.wait_for(ws.recv(), WAIT)  # session.created
            await ws.send(json.dumps(ITEM))
            for _ in range(2):  # the upstream's item.added and item.done: nothing in between
                answer = json.loads(await asyncio.wait_for(ws.recv(), WAIT))
                assert answer["type"].startswith("conversation.item.")
        await server.wait_for_sessions(0)
        entries = server.connections[0].transcript.entries
    problems = [e for e in entries if (e.direction, e.type) == ("note", RULE_PROBLEM)]
    assert len(problems) == 1 and problems[0].note is not None and "nope" in problems[0].note
    assert "a passthrough rule was not applied" in caplog.text and "nope" in caplog.text


# ---- secrets, lost data (issue 13) ------------------------------------------------------------


class Sink:
    """A recording sink that keeps what it is given."""

    def __init__(self) -> None:
        self.added: list[Transcript] = []
        self.secrets: list[str] = []

    def add(self, transcript: Transcript, secrets: Sequence[str]) -> None:
        self.added.append(transcript)
        self.secrets += secrets


async def test_an_upstream_redirect_is_a_502_and_never_followed(
    caplog: pytest.LogCaptureFixture,
) -> None:
    async def redirecting(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.readuntil(b"\r\n\r\n")
        writer.write(
            b"HTTP/1.1 302 Found\r\nLocation: " + elsewhere.ws_url.encode() + b"\r\n"
            b"Content-Length: 0\r\n\r\n"
        )
        await writer.drain()
        writer.close()

    async with MockServer(port=0) as elsewhere:  # another host, as far as origins go
        listener = await asyncio.start_server(redirecting, "127.0.0.1", 0)
        port = listener.sockets[0].getsockname()[1]
        mount = Mount(upstream=Upstream(url=f"ws://127.0.0.1:{port}/v1/realtime", api_key=REAL_KEY))
        try:
            async with serving(mount) as proxy:
                with pytest.raises(InvalidStatus) as refused:
                    await connect(proxy.ws_url, additional_headers={"Authorization": "Bearer x"})
        finally:
            listener.close()
        assert elsewhere.traffic().attempts == 0  # the key never went there
    response = refused.value.response
    assert response.status_code == 502
    error = json.loads(response.body or b"")["error"]
    assert error["code"] == "upstream_redirect"
    assert f"answered 302 redirect to {elsewhere.ws_url}" in error["message"]
    assert "does not follow redirects" in error["message"]
    assert REAL_KEY not in caplog.text and "does not follow redirects" in caplog.text


async def echo_upstream(
    closing: Callable[[ServerConnection], Awaitable[None]] | None = None,
) -> Any:
    """A bare websockets upstream: echoes every frame, or runs ``closing`` on the connection."""

    async def handler(ws: ServerConnection) -> None:
        if closing is not None:
            await closing(ws)
            return
        async for frame in ws:
            await ws.send(frame)

    return await serve(handler, "127.0.0.1", 0)


def _url_of(listening: Any) -> str:
    return f"ws://127.0.0.1:{next(iter(listening.sockets)).getsockname()[1]}/v1/realtime"


async def test_an_upstream_close_without_status_is_a_1000_and_the_recording_is_written(
    tmp_path: Path,
) -> None:
    async def no_status(ws: ServerConnection) -> None:
        async with ws.send_context():  # a close frame with no status code in it
            ws.protocol.send_close()
        await ws.wait_closed()

    recorder = Recorder(tmp_path / "lost.yaml")
    async with await echo_upstream(no_status) as up:
        mount = Mount(upstream=Upstream(url=_url_of(up), api_key=None, recorder=recorder))
        async with serving(mount) as proxy:
            async with connect(
                proxy.ws_url, additional_headers={"Authorization": "Bearer x"}
            ) as ws:
                with pytest.raises(ConnectionClosed):
                    await asyncio.wait_for(ws.recv(), WAIT)
            await proxy.wait_for_sessions(0)
    assert ws.close_code == 1000  # not 1011: a close without a status is a normal close
    text = (tmp_path / "lost.yaml").read_text()
    assert "!!python" not in text  # websockets' CloseCode enum, which a safe loader refuses
    data = yaml.safe_load(text)
    assert data["steps"][-1] == {"close": {"code": 1000, "reason": ""}}


async def test_a_failing_pump_still_hands_the_recording_over(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    real_note = Relay._note

    def failing(self: Relay, side: Direction, frame: str | bytes) -> dict[str, Any] | None:
        if side == "client":
            raise RuntimeError("injected failure")
        return real_note(self, side, frame)

    monkeypatch.setattr(Relay, "_note", failing)
    sink = Sink()
    async with await echo_upstream() as up:
        mount = Mount(upstream=Upstream(url=_url_of(up), api_key=REAL_KEY, recorder=sink))
        async with serving(mount) as proxy:
            headers = {"Authorization": "Bearer sk-mock"}
            async with connect(proxy.ws_url, additional_headers=headers) as ws:
                await ws.send(json.dumps(ITEM))
                with pytest.raises(ConnectionClosed):
                    await asyncio.wait_for(ws.recv(), WAIT)
            await proxy.wait_for_sessions(0)
    assert len(sink.added) == 1 and REAL_KEY in sink.secrets
    notes = [e for e in sink.added[0].entries if e.type == RELAY_FAILED]
    assert len(notes) == 1 and "injected failure" in (notes[0].note or "")
    failures = [r for r in caplog.records if "relay failed" in r.getMessage()]
    assert len(failures) == 1 and failures[0].exc_info is None  # one line, no traceback
    assert ws.close_code == 1011  # a bug of the relay's own, said as one


async def test_an_integer_too_long_for_python_is_relayed_and_noted() -> None:
    huge = '{"type":"conversation.item.create","n":' + "9" * 5000 + "}"
    async with await echo_upstream() as up:
        mount = Mount(upstream=Upstream(url=_url_of(up), api_key=None))
        async with serving(mount) as proxy:
            async with connect(
                proxy.ws_url, additional_headers={"Authorization": "Bearer x"}
            ) as ws:
                await ws.send(huge)
                echoed = await asyncio.wait_for(ws.recv(), WAIT)
                await ws.send(json.dumps(ITEM))  # the relay goes on
                after = await asyncio.wait_for(ws.recv(), WAIT)
            await proxy.wait_for_sessions(0)
    assert echoed == huge and json.loads(after) == ITEM
    entries = proxy.connections[0].transcript.entries
    assert [(e.direction, e.type) for e in entries[:2]] == [
        ("client", "<invalid json>"),
        ("server", "<invalid json>"),
    ]
    assert "4300" in (entries[0].note or "")


async def test_a_client_that_leaves_during_a_slow_upstream_handshake_closes_the_upstream() -> None:
    reached, gate = asyncio.Event(), asyncio.Event()
    upstream_sides: list[ServerConnection] = []

    async def slow(connection: ServerConnection, request: Request) -> None:
        upstream_sides.append(connection)
        reached.set()
        await gate.wait()

    async def handler(ws: ServerConnection) -> None:
        await ws.wait_closed()

    async with serve(handler, "127.0.0.1", 0, process_request=slow) as up:
        mount = Mount(upstream=Upstream(url=_url_of(up), api_key=None))
        async with serving(mount) as proxy:
            client = asyncio.ensure_future(
                connect(proxy.ws_url, additional_headers={"Authorization": "Bearer x"})
            )
            await asyncio.wait_for(reached.wait(), WAIT)
            client.cancel()  # the client gives up while the upstream is still opening
            with pytest.raises(asyncio.CancelledError):
                await client
            gate.set()
            # The upstream's side of the connection ends: no session is left open for nobody.
            lost = upstream_sides[0].connection_lost_waiter
            await asyncio.wait_for(asyncio.shield(lost), WAIT)
            assert proxy.open_sessions == 0


async def test_an_upstream_opened_for_a_handshake_that_then_fails_is_closed(
    upstream: MockServer,
) -> None:
    async with relaying(upstream, api_key=None) as proxy:
        # The relay opens the upstream first; websockets then refuses the key-less nonce.
        reader, writer = await asyncio.open_connection("127.0.0.1", proxy.port)
        writer.write(
            b"GET /v1/realtime?model=gpt-realtime HTTP/1.1\r\nHost: 127.0.0.1\r\n"
            b"Upgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Version: 13\r\n"
            b"Sec-WebSocket-Key: not-base64!\r\nAuthorization: Bearer sk-test\r\n\r\n"
        )
        answer = await asyncio.wait_for(reader.read(), WAIT)
        writer.close()
        assert answer.startswith(b"HTTP/1.1 400")
        assert len(upstream.connections) == 1  # it had been opened
        await upstream.wait_for_sessions(0, timeout=WAIT)


# ---- faults go through the one interpreter (issue 14) ------------------------------------------

FAULTS: dict[str, tuple[str, Callable[[list[str | bytes], Any], None]]] = {}


def _fault(kind: str, step: str) -> Callable[[Callable[[list[str | bytes], Any], None]], None]:
    def register(check: Callable[[list[str | bytes], Any], None]) -> None:
        FAULTS[kind] = (step, check)

    return register


def _events(frames: list[str | bytes]) -> list[dict[str, Any]]:
    return [json.loads(f) for f in frames]


@_fault("error", "{error: {type: tokens, code: rate_limit_exceeded, message: Slow down.}}")
def _error(frames: list[str | bytes], ws: Any) -> None:
    (error,) = _events(frames)
    assert error["type"] == "error" and error["event_id"].startswith("event_")
    assert error["error"] == {
        "type": "tokens",
        "code": "rate_limit_exceeded",
        "message": "Slow down.",
        "param": None,
        "event_id": None,
    }


_DELTA = "response_id: resp_1, item_id: item_1, output_index: 0, content_index: 0, delta: hi"


@_fault("send", f"{{send: {{type: response.output_text.delta, {_DELTA}, event_id: evt_given}}}}")
def _send(frames: list[str | bytes], ws: Any) -> None:
    # Sent under the name of the connection's dialect (beta here), with the id it was given;
    # through the outbox, so checked against the SDK's models like a session's events.
    assert _events(frames) == [
        {
            "event_id": "evt_given",
            "type": "response.text.delta",
            "response_id": "resp_1",
            "item_id": "item_1",
            "output_index": 0,
            "content_index": 0,
            "delta": "hi",
        }
    ]


@_fault("close", "{close: {code: 4001, reason: bye}}")
def _close(frames: list[str | bytes], ws: Any) -> None:
    assert frames == [] and (ws.close_code, ws.close_reason) == (4001, "bye")


@_fault("drop", "{drop: true}")
def _drop(frames: list[str | bytes], ws: Any) -> None:
    assert frames == [] and ws.close_code == 1006


@_fault("stall", "{stall: 10ms}")
def _stall(frames: list[str | bytes], ws: Any) -> None:
    assert frames == []  # nothing but a pause, then the rule took the event's place


@_fault("garbage", "{garbage: true}")
def _garbage(frames: list[str | bytes], ws: Any) -> None:
    assert frames == [GARBAGE]


@_fault("expire", "{expire: true}")
def _expire(frames: list[str | bytes], ws: Any) -> None:
    (error,) = _events(frames)
    assert error["error"]["code"] == "session_expired"
    assert ws.close_code == 1001 and "maximum duration" in ws.close_reason


@pytest.mark.parametrize("kind", sorted(PASSTHROUGH_ACTIONS))
async def test_each_passthrough_fault_goes_through_perform_with_the_relays_actions(
    kind: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    step, check = FAULTS[kind]
    performed: list[tuple[str, object]] = []
    real_perform = actions.perform

    def spy(step: Step, acting: Actions, render_send: Callable[[Any], Any]) -> bool:
        performed.append((step.kind, acting))
        return real_perform(step, acting, render_send)

    monkeypatch.setattr(actions, "perform", spy)
    text = (
        "name: x\ndescription: y\npassthrough: true\n"
        f"rules:\n  - when: conversation.item.create\n    do: [{step}]\n"
    )
    async with await echo_upstream() as up:
        play = ServedScenario(load_scenario_text(text), upstream=_url_of(up))
        async with serving(play.mount()) as proxy:
            beta = KEY | {"OpenAI-Beta": "realtime=v1"}
            async with connected(proxy.ws_url, headers=beta, opened=False) as ws:
                await ws.send(json.dumps(ITEM))
                await ws.send(json.dumps({"type": "response.create"}))  # no rule: echoed
                frames: list[str | bytes] = []
                with contextlib.suppress(ConnectionClosed):
                    while (frame := await asyncio.wait_for(ws.recv(), WAIT)) != json.dumps(
                        {"type": "response.create"}
                    ):
                        frames.append(frame)
            await proxy.wait_for_sessions(0)
    check(frames, ws)
    assert [k for k, _ in performed] == [kind]
    assert isinstance(performed[0][1], RelayActions)
