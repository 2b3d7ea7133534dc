"""The websockets server over loopback: handshake policy, the HTTP side, dialects, TLS, shutdown."""

from __future__ import annotations

import asyncio
import json
import logging
import ssl
import urllib.error
import urllib.request
from typing import Any

import pytest
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed, InvalidStatus
from websockets.http11 import Response

from mock_server.protocol.http import HttpRequest, json_response, reason_phrase
from mock_server.scenario.loader import ScenarioError, load_scenario_text
from mock_server.scenario.served import ServedScenario
from mock_server.server import MockServer, Mount
from tests.helpers import KEY, WAIT, recv, serving

# The `server` fixture (tests/conftest.py): the default mount, pace 0, seed 1.


async def refused(url: str, **kwargs: Any) -> tuple[int, dict[str, Any]]:
    with pytest.raises(InvalidStatus) as caught:
        async with connect(url, open_timeout=WAIT, **kwargs):
            pass
    response = caught.value.response
    return response.status_code, json.loads(response.body)


def http_get(url: str) -> tuple[int, dict[str, Any]]:
    try:
        with urllib.request.urlopen(url, timeout=WAIT) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read())


# ---- refusals at the HTTP level -------------------------------------------------------------


async def test_missing_key_is_401_with_an_openai_error_body(server: MockServer) -> None:
    status, body = await refused(server.ws_url)
    assert status == 401
    assert body["error"]["type"] == "invalid_request_error"
    assert body["error"]["code"] == "missing_api_key"
    assert "Authorization" in body["error"]["message"]


async def test_key_in_the_query_string_is_refused_with_advice(server: MockServer) -> None:
    status, body = await refused(server.ws_url + "?model=gpt-realtime&api_key=sk-test")
    assert status == 401
    assert "query parameter" in body["error"]["message"]
    assert "Authorization: Bearer" in body["error"]["message"]


async def test_only_the_configured_keys_are_accepted() -> None:
    mount = Mount(pace=0.0, api_keys=frozenset({"sk-good"}))
    async with serving(mount) as server:
        status, body = await refused(
            server.ws_url, additional_headers={"Authorization": "Bearer sk-wrong-123456"}
        )
        assert status == 401
        assert body["error"]["code"] == "invalid_api_key"
        assert "sk-wrong-123456" not in body["error"]["message"]
        async with connect(
            server.ws_url, additional_headers={"Authorization": "Bearer sk-good"}
        ) as ws:
            assert (await recv(ws))["type"] == "session.created"


async def test_unknown_path_is_404(server: MockServer) -> None:
    status, body = await refused(
        server.ws_url.replace("/v1/realtime", "/v1/chat"), additional_headers=KEY
    )
    assert status == 404
    assert body["error"]["message"] == "Invalid URL (GET /v1/chat)"


async def test_healthz_answers_200(server: MockServer) -> None:
    status, body = await asyncio.to_thread(http_get, f"http://127.0.0.1:{server.port}/healthz")
    assert (status, body["status"]) == (200, "ok")


async def test_http_routes_answer_plain_requests_by_longest_prefix(server: MockServer) -> None:
    async def outer(request: HttpRequest) -> Response:
        return json_response(200, {"route": "outer"})

    async def inner(request: HttpRequest) -> Response:
        return json_response(200, {"route": "inner", "path": request.path, "q": request.query})

    server.http_routes.add("/_mock/", outer)
    server.http_routes.add("/_mock/mounts", inner)
    base = f"http://127.0.0.1:{server.port}"
    status, body = await asyncio.to_thread(http_get, f"{base}/_mock/mounts/1?x=2")
    assert (status, body) == (200, {"route": "inner", "path": "/_mock/mounts/1", "q": {"x": ["2"]}})
    status, body = await asyncio.to_thread(http_get, f"{base}/_mock/journal")
    assert (status, body) == (200, {"route": "outer"})
    # A WebSocket upgrade never reaches a route: it is the realtime endpoint's.
    server.http_routes.add("/v1/realtime", outer)
    async with connect(server.ws_url, additional_headers=KEY) as ws:
        assert (await recv(ws))["type"] == "session.created"


async def test_plain_http_on_the_realtime_path_gets_a_helpful_error(server: MockServer) -> None:
    url = f"http://127.0.0.1:{server.port}/v1/realtime?model=gpt-realtime"
    status, body = await asyncio.to_thread(http_get, url)
    assert status == 426
    assert "WebSocket" in body["error"]["message"]
    assert f"ws://127.0.0.1:{server.port}/v1/realtime" in body["error"]["message"]


# ---- accepted connections ---------------------------------------------------------------------


async def test_ga_by_default(server: MockServer) -> None:
    async with connect(server.ws_url + "?model=gpt-realtime", additional_headers=KEY) as ws:
        created = await recv(ws)
        assert created["type"] == "session.created"
        assert created["session"]["type"] == "realtime"
        assert created["session"]["model"] == "gpt-realtime"


async def test_beta_header_selects_the_beta_dialect(server: MockServer) -> None:
    headers = {**KEY, "OpenAI-Beta": "realtime=v1"}
    async with connect(
        server.ws_url + "?model=gpt-4o-realtime-preview", additional_headers=headers
    ) as ws:
        created = await recv(ws)
        assert "modalities" in created["session"]
        assert (await recv(ws))["type"] == "conversation.created"


async def test_browser_subprotocols_carry_key_and_dialect(server: MockServer) -> None:
    protocols = ["realtime", "openai-insecure-api-key.sk-browser", "openai-beta.realtime-v1"]
    async with connect(
        server.ws_url + "?model=gpt-4o-realtime-preview",
        subprotocols=protocols,  # type: ignore[arg-type]
    ) as ws:
        assert ws.subprotocol == "realtime"
        assert "modalities" in (await recv(ws))["session"]
    handshake = server.connections[-1].transcript.handshake
    assert handshake is not None
    assert "sk-browser" not in json.dumps(handshake.__dict__)


async def test_forced_dialect_ignores_the_header() -> None:
    async with serving(Mount(pace=0.0, dialect="ga")) as server:
        headers = {**KEY, "OpenAI-Beta": "realtime=v1"}
        async with connect(server.ws_url, additional_headers=headers) as ws:
            assert (await recv(ws))["session"]["type"] == "realtime"


async def test_azure_path_with_api_key_header(server: MockServer) -> None:
    base = f"ws://127.0.0.1:{server.port}/openai/realtime"
    url = base + "?api-version=2025-04-01-preview&deployment=my-voice-bot"
    async with connect(url, additional_headers={"api-key": "azure-key"}) as ws:
        created = await recv(ws)
        assert created["session"]["model"] == "my-voice-bot"
    status, body = await refused(base + "?deployment=x", additional_headers={"api-key": "k"})
    assert (status, body["error"]["param"]) == (400, "api-version")


async def test_azure_v1_path_with_api_key_header() -> None:
    # /openai/v1/realtime is Azure's v1 form (not a mount named /openai); its keys are checked.
    async with serving(Mount(pace=0.0, api_keys=frozenset({"azure-key"}))) as server:
        url = server.url_for(path="/openai/v1/realtime") + "?model=my-voice-bot"
        async with connect(url, additional_headers={"api-key": "azure-key"}) as ws:
            created = await recv(ws)
            assert created["session"]["model"] == "my-voice-bot"
        status, body = await refused(url, additional_headers={"api-key": "wrong-key"})
        assert (status, body["error"]["code"]) == (401, "invalid_api_key")
        legacy = server.url_for(path="/openai/realtime") + "?api-version=2025-04-01-preview"
        async with connect(legacy + "&deployment=d", additional_headers={"api-key": "azure-key"}):
            pass


async def test_ga_intent_transcription_starts_a_transcription_session(server: MockServer) -> None:
    async with connect(server.ws_url + "?intent=transcription", additional_headers=KEY) as ws:
        assert (await recv(ws))["session"]["type"] == "transcription"


async def test_ga_call_id_attaches_without_a_model(server: MockServer) -> None:
    async with connect(server.ws_url + "?call_id=rtc_123", additional_headers=KEY) as ws:
        assert (await recv(ws))["type"] == "session.created"


async def test_beta_retired_reproduces_the_live_service() -> None:
    async with serving(Mount(pace=0.0, beta="retired")) as server:
        headers = {**KEY, "OpenAI-Beta": "realtime=v1"}
        url = server.ws_url + "?model=gpt-4o-realtime-preview"
        async with connect(url, additional_headers=headers) as ws:
            error = await recv(ws)
            assert error["type"] == "error"
            assert error["error"]["code"] == "beta_api_shape_disabled"
            assert error["error"]["message"].startswith("The Realtime Beta API is no longer")
            with pytest.raises(ConnectionClosed) as closed:
                await recv(ws)
        assert closed.value.rcvd is not None
        assert closed.value.rcvd.code == 4000
        assert closed.value.rcvd.reason == "invalid_request_error.beta_api_shape_disabled"
        # GA clients are unaffected.
        async with connect(
            url.replace("4o-realtime-preview", "realtime"), additional_headers=KEY
        ) as ws:
            assert (await recv(ws))["type"] == "session.created"


async def test_unknown_model_is_missing_model_then_close_4000(server: MockServer) -> None:
    async with connect(server.ws_url + "?model=gpt-5-turbo", additional_headers=KEY) as ws:
        error = await recv(ws)
        assert error["error"]["code"] == "missing_model"
        with pytest.raises(ConnectionClosed) as closed:
            await recv(ws)
    assert closed.value.rcvd is not None
    assert (closed.value.rcvd.code, closed.value.rcvd.reason) == (
        4000,
        "invalid_request_error.missing_model",
    )


async def test_a_bad_frame_does_not_hurt_the_connection_or_others(server: MockServer) -> None:
    async with (
        connect(server.ws_url, additional_headers=KEY) as a,
        connect(server.ws_url, additional_headers=KEY) as b,
    ):
        await recv(a), await recv(b)
        await a.send(b"\x00\xff")
        await a.send("{nope")
        assert (await recv(a))["error"]["code"] == "invalid_event"
        assert (await recv(a))["error"]["code"] == "invalid_json"
        for ws in (a, b):
            await ws.send(json.dumps({"type": "input_audio_buffer.clear"}))
            assert (await recv(ws))["type"] == "input_audio_buffer.cleared"


async def test_transcript_keeps_the_handshake_without_secrets(server: MockServer) -> None:
    url = server.ws_url + "?model=gpt-realtime"
    async with connect(url, additional_headers={"Authorization": "Bearer sk-test-SECRET123"}) as ws:
        await recv(ws)
    handshake = server.connections[-1].transcript.handshake
    assert handshake is not None
    assert handshake.query == {"model": "gpt-realtime"}
    dumped = server.connections[-1].transcript.to_json()
    assert "SECRET123" not in dumped
    assert "Bearer <redacted>" in dumped


async def test_stop_closes_every_connection_with_1001() -> None:
    server = MockServer(port=0, default_mount=Mount(pace=0.0))
    await server.start()
    async with connect(server.ws_url, additional_headers=KEY) as ws:
        await recv(ws)
        await server.stop()
        with pytest.raises(ConnectionClosed) as closed:
            await recv(ws)
    assert closed.value.rcvd is not None
    assert closed.value.rcvd.code == 1001


async def test_mounts_serve_different_configurations(server: MockServer) -> None:
    server.mount(Mount(prefix="/t/beta-only", dialect="beta", pace=0.0))
    url = f"ws://127.0.0.1:{server.port}/t/beta-only/v1/realtime?model=gpt-4o-realtime-preview"
    async with connect(url, additional_headers=KEY) as ws:
        assert "modalities" in (await recv(ws))["session"]
    status, _ = await refused(
        f"ws://127.0.0.1:{server.port}/t/other/v1/realtime", additional_headers=KEY
    )
    assert status == 404


async def test_tls_serves_wss_with_the_printed_ca() -> None:
    async with MockServer(port=0, tls=True, default_mount=Mount(pace=0.0)) as server:
        assert server.wss_url is not None and server.ca_path is not None
        context = ssl.create_default_context(cafile=str(server.ca_path))
        async with connect(server.wss_url, ssl=context, additional_headers=KEY) as ws:
            assert (await recv(ws))["type"] == "session.created"
        async with connect(server.ws_url, additional_headers=KEY) as ws:
            assert (await recv(ws))["type"] == "session.created"
        host_url = server.wss_url.replace("127.0.0.1", "localhost")
        async with connect(host_url, ssl=context, additional_headers=KEY) as ws:
            assert (await recv(ws))["type"] == "session.created"


async def test_a_frame_over_the_size_limit_closes_with_1009(server: MockServer) -> None:
    from mock_server.server import MAX_FRAME_BYTES

    # Not `async with`: the server closes while this client is still writing its frame, and
    # the client's own close afterwards trips over its half-written transport.
    ws = await connect(server.ws_url, additional_headers=KEY, max_size=None)
    await recv(ws)
    with pytest.raises(ConnectionClosed) as closed:
        await ws.send("x" * (MAX_FRAME_BYTES + 1))
        await recv(ws)
    assert closed.value.rcvd is not None
    assert closed.value.rcvd.code == 1009


async def test_a_15_mib_append_fits_in_one_frame(server: MockServer) -> None:
    import base64

    audio = base64.b64encode(bytes(15 * 1024 * 1024)).decode()
    async with connect(server.ws_url, additional_headers=KEY, max_size=None) as ws:
        await recv(ws)
        await ws.send(json.dumps({"type": "input_audio_buffer.append", "audio": audio}))
        await ws.send(json.dumps({"type": "input_audio_buffer.clear"}))
        assert (await recv(ws))["type"] == "input_audio_buffer.cleared"


async def test_concurrent_sessions_over_the_cap_get_503() -> None:
    async with MockServer(port=0, max_sessions=1, default_mount=Mount(pace=0.0)) as server:
        async with connect(server.ws_url, additional_headers=KEY) as first:
            await recv(first)
            status, body = await refused(server.ws_url, additional_headers=KEY)
            assert status == 503
            assert body["error"]["code"] == "too_many_sessions"
        # Once the first session has ended, a new one is accepted.
        await server.wait_for_sessions(at_most=0)
        async with connect(server.ws_url, additional_headers=KEY) as second:
            assert (await recv(second))["type"] == "session.created"


async def test_every_credential_header_and_key_shaped_query_value_is_redacted(
    server: MockServer,
) -> None:
    # Markers no port, timestamp or id can contain (digits could: a port 45677 holds "4567").
    headers = {
        **KEY,
        "Ocp-Apim-Subscription-Key": "azure-subscription-QXZSUB",
        "X-Auth-Token": "token-QXZTOK",
        "X-Client-Secret": "secret-QXZSEC",
        "Proxy-Authorization": "Basic dXNlcjpwYXNz",
    }
    query = "model=gpt-realtime&access_token=token-QXZQRY&extra=sk-proj-QXZPROJabcdefgh"
    async with connect(f"{server.ws_url}?{query}", additional_headers=headers) as ws:
        await recv(ws)
    handshake = server.connections[-1].transcript.handshake
    assert handshake is not None
    dumped = server.connections[-1].transcript.to_json()
    for secret in ("QXZSUB", "QXZTOK", "QXZSEC", "QXZQRY", "QXZPROJ", "dXNlcjpwYXNz"):
        assert secret not in dumped
    assert dict(handshake.headers)["Ocp-Apim-Subscription-Key"] == "<redacted>"
    assert handshake.query == {
        "model": "gpt-realtime",
        "access_token": "<redacted>",
        "extra": "<redacted>",
    }


# ---- handshake failures: one line, no key, no 500 (issue 13) -----------------------------------

SECRET = "openai-insecure-api-key.sk-SECRET"


def server_log(caplog: pytest.LogCaptureFixture) -> list[logging.LogRecord]:
    return [r for r in caplog.records if not r.name.startswith("websockets.client")]


async def raw_exchange(server: MockServer, request: bytes) -> bytes:
    """Send ``request`` as is and return the whole answer (the server closes after it: a
    refused upgrade, or a plain request that says ``Connection: close``)."""
    reader, writer = await asyncio.open_connection("127.0.0.1", server.port)
    try:
        writer.write(request)
        await writer.drain()
        return await asyncio.wait_for(reader.read(), WAIT)
    finally:
        writer.close()


async def test_a_bad_subprotocol_list_is_a_400_and_one_log_line_without_the_key(
    server: MockServer, caplog: pytest.LogCaptureFixture, capsys: pytest.CaptureFixture[str]
) -> None:
    caplog.set_level(logging.DEBUG)  # even websockets' debug lines (it prints the headers)
    offered = {"Sec-WebSocket-Protocol": f"realtime, {SECRET}, not/a-token"}
    status, body = await refused(
        server.ws_url + "?model=gpt-realtime", additional_headers={**KEY, **offered}
    )
    assert status == 400 and body["error"]["code"] == "invalid_subprotocol"
    assert "sk-SECRET" not in json.dumps(body)
    assert "expected comma" in body["error"]["message"]
    await server.stop()
    logged = server_log(caplog)  # the test's own client logs its headers at debug level
    assert "sk-SECRET" not in "\n".join(r.getMessage() for r in logged)
    assert "sk-SECRET" not in capsys.readouterr().err
    assert not [r for r in logged if r.exc_info]  # no traceback
    told = [r for r in logged if r.levelno >= logging.INFO and "subprotocol" in r.getMessage()]
    assert len(told) == 1 and "400" in told[0].getMessage()


async def test_a_malformed_handshake_is_one_log_line_without_the_key(
    server: MockServer, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)
    request = (
        "GET /v1/realtime?model=gpt-realtime HTTP/1.1\r\nHost: 127.0.0.1\r\n"
        "Upgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Version: 13\r\n"
        "Sec-WebSocket-Key: not-base64!\r\nAuthorization: Bearer sk-mock-SECRET\r\n"
        f"Sec-WebSocket-Protocol: realtime, {SECRET}\r\n\r\n"
    )
    answer = await raw_exchange(server, request.encode())
    await server.stop()
    assert answer.startswith(b"HTTP/1.1 400")
    assert "SECRET" not in caplog.text
    assert not [r for r in caplog.records if r.exc_info]
    failed = [r for r in caplog.records if "handshake failed" in r.getMessage()]
    assert len(failed) == 1 and "Sec-WebSocket-Key" in failed[0].getMessage()


@pytest.mark.parametrize("path", ["//[", "//[/v1/realtime", "/v1/realtime?model=[x"])
async def test_an_invalid_url_path_is_a_clean_refusal(server: MockServer, path: str) -> None:
    answer = await raw_exchange(
        server, f"GET {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n".encode()
    )
    status = int(answer.split(b" ", 2)[1])
    assert status in (400, 404, 426), answer[:200]


async def test_an_unnamed_refusal_status_is_answered_as_is() -> None:
    # 451 has a name in http.HTTPStatus but not in every HTTP library; the answer keeps it.
    # (499 and 599, which no server sends, are refused when the scenario loads: see below.)
    text = "name: x\ndescription: y\nhandshake: {status: 451}\n"
    play = ServedScenario(load_scenario_text(text))
    async with serving(play.mount()) as odd:
        with pytest.raises(InvalidStatus) as caught:
            await connect(odd.ws_url, additional_headers=KEY, open_timeout=WAIT)
    response = caught.value.response
    assert response.status_code == 451
    assert response.reason_phrase == reason_phrase(451) != ""
    assert json.loads(response.body or b"")["error"]["message"] == "Request refused."


@pytest.mark.parametrize("status", [499, 599])
def test_a_refusal_status_no_server_sends_is_refused_at_load(status: int) -> None:
    text = f"name: x\ndescription: y\nhandshake: {{status: {status}}}\n"
    with pytest.raises(ScenarioError, match=f"handshake status {status} is not an HTTP error"):
        load_scenario_text(text)
    assert reason_phrase(status) != ""  # and were one to reach the server, it has a reason


async def test_connections_are_numbered_per_mount() -> None:
    # Findings say "connection N" by this number: a scenario's first connection is 1, whatever
    # the shared server served before (run, demo and each plugin test mount their own).
    async with serving(Mount(pace=0.0)) as server:
        other = server.mount(Mount(prefix="/other", pace=0.0))
        base = f"ws://127.0.0.1:{server.port}"
        for url in (f"{base}/v1/realtime", f"{base}/v1/realtime", f"{base}/other/v1/realtime"):
            async with connect(url, additional_headers=KEY) as ws:
                await recv(ws)
        numbers = [(c.mount is other, c.number) for c in server.connections]
        assert numbers == [(False, 1), (False, 2), (True, 1)]


# ---- addresses and counts (issue 14) ----------------------------------------------------------


async def test_every_url_comes_from_url_for() -> None:
    async with serving(tls=True) as server:
        port, secure = server.port, server.tls_port
        assert server.ws_url == server.url_for() == f"ws://127.0.0.1:{port}/v1/realtime"
        assert server.base_url == f"http://127.0.0.1:{port}/v1"
        assert server.wss_url == f"wss://127.0.0.1:{secure}/v1/realtime"
        assert server.https_base_url == f"https://127.0.0.1:{secure}/v1"
        assert server.url_for("/t/x/", path="/v1") == f"ws://127.0.0.1:{port}/t/x/v1"
    with pytest.raises(ValueError, match="without tls=True"):
        MockServer(port=0).url_for(scheme="wss")


async def test_the_server_counts_attempts_and_connections_per_mount(server: MockServer) -> None:
    mount = server.mount(Mount(prefix="/t/counted", pace=0.0))
    url = server.url_for("/t/counted")
    await refused(url)  # no key: an attempt, not a connection
    async with connect(url, additional_headers=KEY) as ws:
        assert (await recv(ws))["type"] == "session.created"
    await server.wait_for_sessions(0)
    assert (server.traffic(mount).attempts, server.traffic(mount).accepted) == (2, 1)
    assert [c.number for c in server.connections if c.mount is mount] == [1]
    assert server.traffic().attempts == 0  # the default mount's own count
    again = server.mount(Mount(prefix="/t/counted", pace=0.0))
    assert server.traffic(again).attempts == 0  # a new mount counts from zero
    with pytest.raises(KeyError, match="no such mount"):
        server.traffic(mount)  # replaced
