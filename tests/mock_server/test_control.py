"""The control API's handler, called with HttpRequest objects (no HTTP client), over a real
server whose mounts the clients connect to."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from typing import Any

import pytest
from websockets.datastructures import Headers
from websockets.exceptions import InvalidStatus

from mock_server.protocol.http import HttpRequest
from mock_server.server import MockServer
from mock_server.server import control as control_module
from mock_server.server.control import ROUTES, ControlApi
from mock_server.server.control_access import ControlAccess
from tests.helpers import connected, recv_until, send, user_text

TEXT_TURN = """\
name: posted
description: A text turn.
steps:
  - expect: conversation.item.create
  - expect: response.create
  - respond:
      text: Hello from the control API.
"""


@pytest.fixture
async def api() -> AsyncIterator[ControlApi]:
    async with MockServer(port=0) as server:
        yield ControlApi(server).attach()


def request(
    method: str,
    target: str,
    body: Any = None,
    *,
    content_type: str | None = None,
    peer: str = "127.0.0.1",
    headers: dict[str, str] | None = None,
) -> HttpRequest:
    data = b""
    if isinstance(body, str):
        data, content_type = body.encode(), content_type or "application/yaml"
    elif isinstance(body, bytes):
        data = body
    elif body is not None:
        data, content_type = json.dumps(body).encode(), content_type or "application/json"
    all_headers = Headers({"Host": "127.0.0.1:8765", **(headers or {})})
    if content_type:
        all_headers["Content-Type"] = content_type
    return HttpRequest(method, target, all_headers, data, peer=peer)


async def call(api: ControlApi, *args: Any, **kwargs: Any) -> tuple[int, Any]:
    response = await api.handle(request(*args, **kwargs))
    return response.status_code, json.loads(response.body)


async def play_text_turn(ws_url: str, key: str = "sk-test") -> str:
    """A correct client of TEXT_TURN and text_turn: the text of the answer."""
    async with connected(ws_url, headers={"Authorization": f"Bearer {key}"}) as ws:
        await send(ws, user_text("Hello"))
        await send(ws, {"type": "response.create"})
        done = await recv_until(ws, "response.done")
    part = done["response"]["output"][0]["content"][0]
    return str(part.get("text") or part.get("transcript"))


async def test_a_library_scenario_mounted_played_judged_and_deleted(api: ControlApi) -> None:
    status, mounted = await call(api, "POST", "/_mock/mounts", {"library": "text_turn"})
    assert status == 201, mounted
    assert (mounted["id"], mounted["scenario"], mounted["prefix"]) == (
        "m1",
        "text_turn",
        "/mocks/m1",
    )
    assert mounted["ws_url"] == api.server.url_for("/mocks/m1")
    assert mounted["base_url"].endswith("/mocks/m1/v1")
    await play_text_turn(mounted["ws_url"])
    status, verdict = await call(api, "GET", "/_mock/mounts/m1/verdict")
    assert (status, verdict["ok"], verdict["settled"]) == (200, True, True), verdict
    assert verdict["connections"][0]["satisfied"]
    await api.server.wait_for_sessions(0)
    status, listed = await call(api, "GET", "/_mock/mounts/m1/connections")
    (one,) = listed["connections"]
    assert (one["connection"], one["ended"], one["ok"], one["path"]) == (
        1,
        True,
        True,
        "/mocks/m1/v1/realtime",
    )
    status, deleted = await call(api, "DELETE", "/_mock/mounts/m1")
    assert (status, deleted["deleted"], deleted["verdict"]["ok"]) == (200, True, True)
    assert "/mocks/m1" not in api.server.mounts
    status, gone = await call(api, "GET", "/_mock/mounts/m1/verdict")
    assert status == 404 and "no mount 'm1'" in gone["error"]["message"]
    _, journal = await call(api, "GET", "/_mock/journal")
    assert [(e["mount"], e["ok"]) for e in journal["entries"]] == [("m1", True)]


async def test_a_yaml_scenario_with_options_and_a_verdict_that_fails(api: ControlApi) -> None:
    status, mounted = await call(
        api, "POST", "/_mock/mounts?id=greeting&api_key=sk-only-this&strict=true", TEXT_TURN
    )
    assert (status, mounted["id"], mounted["scenario"]) == (201, "greeting", "posted")
    with pytest.raises(InvalidStatus) as refused:
        async with connected(mounted["ws_url"], headers={"Authorization": "Bearer sk-other"}):
            pass
    assert refused.value.response.status_code == 401
    # The right key, but the client leaves before asking for a response.
    async with connected(mounted["ws_url"], headers={"Authorization": "Bearer sk-only-this"}) as ws:
        await send(ws, user_text("Hello"))
    status, verdict = await call(api, "GET", "/_mock/mounts/greeting/verdict")
    assert (status, verdict["ok"], verdict["settled"]) == (200, False, True)
    assert any("response.create" in finding for finding in verdict["findings"]), verdict
    everything = json.dumps([await call(api, "GET", p) for p in _reads("greeting")])
    assert "sk-only-this" not in everything  # the key is never shown back


def _reads(mount_id: str) -> list[str]:
    return [f"/_mock/mounts/{mount_id}{tail}" for tail in ("", "/connections", "/transcript")]


async def test_a_json_scenario_and_the_canned_model(api: ControlApi) -> None:
    scenario = {
        "steps": [{"expect": "response.create"}, {"respond": {"text": "Hi, JSON."}}],
        "pace": "fast",
    }
    status, mounted = await call(api, "POST", "/_mock/mounts", {"scenario": scenario, "seed": 7})
    assert status == 201, mounted
    async with connected(mounted["ws_url"]) as ws:
        await send(ws, {"type": "response.create"})
        done = await recv_until(ws, "response.done")
    part = done["response"]["output"][0]["content"][0]
    assert part.get("text", part.get("transcript")) == "Hi, JSON."
    status, canned = await call(api, "POST", "/_mock/mounts")
    assert (status, canned["scenario"]) == (201, None)
    status, verdict = await call(api, "GET", f"/_mock/mounts/{canned['id']}/verdict")
    assert (status, verdict["ok"]) == (200, True)  # no scenario: only the client's mistakes


async def test_the_transcript_comes_a_page_at_a_time(api: ControlApi) -> None:
    _, mounted = await call(api, "POST", "/_mock/mounts", TEXT_TURN)
    await play_text_turn(mounted["ws_url"])
    path = f"/_mock/mounts/{mounted['id']}/transcript"
    _, whole = await call(api, "GET", path)
    (first,) = whole["connections"]
    total = first["total_entries"]
    assert total > 5 and first["next_offset"] is None and len(first["entries"]) == total
    assert first["handshake"]["path"] == "/mocks/m1/v1/realtime"
    _, page = await call(api, "GET", f"{path}?connection=1&offset=2&limit=2")
    assert page["connections"][0]["entries"] == first["entries"][2:4]
    assert page["connections"][0]["next_offset"] == 4
    status, error = await call(api, "GET", f"{path}?connection=2")
    assert (status, error["error"]["param"]) == (404, "connection")
    status, error = await call(api, "GET", f"{path}?limit=lots")
    assert status == 400 and "limit='lots'" in error["error"]["message"]


async def test_bad_scenarios_say_what_and_where(api: ControlApi) -> None:
    bad_yaml = "name: x\ndescription: y\nsteps:\n  - expect: response.create\n  - respnd: {}\n"
    status, error = await call(api, "POST", "/_mock/mounts", bad_yaml)
    assert (status, error["error"]["code"]) == (400, "invalid_scenario")
    assert "body:5:" in error["error"]["message"] and "respnd" in error["error"]["message"]
    assert error["error"]["problems"][0]["line"] == 5
    status, error = await call(api, "POST", "/_mock/mounts", "steps: [unclosed\n")
    assert status == 400 and "body:" in error["error"]["message"]
    json_bad = {"scenario": {"steps": [{"respond": {"txt": "Hi"}}]}}
    status, error = await call(api, "POST", "/_mock/mounts", json_bad)
    assert status == 400 and "scenario.steps[0].respond" in error["error"]["message"], error
    status, error = await call(api, "POST", "/_mock/mounts", {"library": "function_cal"})
    assert (status, error["error"]["param"]) == (400, "library")
    assert "did you mean function_call" in error["error"]["message"]
    status, error = await call(api, "POST", "/_mock/mounts", {"library": "/etc/passwd.yaml"})
    assert status == 400  # a library name, never a path
    status, error = await call(api, "POST", "/_mock/mounts", {"scenaro": {}})
    assert status == 400 and "did you mean 'scenario'" in error["error"]["message"]
    status, error = await call(api, "POST", "/_mock/mounts", {"steps": []})
    assert status == 400 and 'send {"scenario": {"steps": ...}}' in error["error"]["message"]
    status, error = await call(api, "POST", "/_mock/mounts", b"steps: []")
    assert status == 415 and "needs its Content-Type" in error["error"]["message"]
    status, error = await call(api, "POST", "/_mock/mounts", {"pace": "slowly"})
    assert (status, error["error"]["param"]) == (400, "pace")
    for bad_id in ("a/b", "..", ""):
        status, error = await call(api, "POST", "/_mock/mounts", {"id": bad_id})
        assert (status, error["error"]["param"]) == (400, "id"), bad_id
    status, error = await call(api, "POST", "/_mock/mounts", b"{", content_type="application/json")
    assert status == 400 and "line 1, column 2" in error["error"]["message"]
    status, error = await call(api, "POST", "/_mock/mounts", b"x", content_type="text/plain")
    assert status == 415
    assert api.mounts == {}


async def test_unknown_routes_methods_ids_and_big_bodies(api: ControlApi) -> None:
    status, error = await call(api, "GET", "/_mock/nothing")
    assert status == 404 and "POST /_mock/mounts" in error["error"]["message"]
    response = await api.handle(request("PUT", "/_mock/mounts"))
    assert response.status_code == 405 and response.headers["Allow"] == "GET, POST"
    status, error = await call(api, "GET", "/_mock/mounts/nope/connections")
    assert (status, error["error"]["code"]) == (404, "not_found")
    big = b"x" * (control_module.MAX_BODY_BYTES + 1)
    status, error = await call(api, "POST", "/_mock/mounts", big, content_type="application/yaml")
    assert (status, error["error"]["code"]) == (413, "body_too_large")
    assert (await call(api, "POST", "/_mock/mounts", {"library": "text_turn", "id": "same"}))[
        0
    ] == 201
    status, error = await call(api, "POST", "/_mock/mounts", {"library": "text_turn", "id": "same"})
    assert (status, error["error"]["code"]) == (409, "exists")


async def test_the_mounts_are_bounded_and_reset_clears_them(
    api: ControlApi, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(control_module, "MAX_MOUNTS", 2)
    for _ in range(2):
        assert (await call(api, "POST", "/_mock/mounts"))[0] == 201
    status, error = await call(api, "POST", "/_mock/mounts")
    assert (status, error["error"]["code"]) == (409, "too_many_mounts")
    _, listed = await call(api, "GET", "/_mock/mounts")
    assert [m["id"] for m in listed["mounts"]] == ["m1", "m2"]
    status, reset = await call(api, "POST", "/_mock/reset")
    assert (status, reset) == (200, {"deleted": 2})
    assert api.mounts == {} and sorted(api.server.mounts) == [""]
    _, mounted = await call(api, "POST", "/_mock/mounts")
    assert mounted["id"] == "m3"  # ids are never reused: a late client cannot reach a new mount


async def test_the_journal_keeps_the_most_recent_connections() -> None:
    async with MockServer(port=0) as server:
        api = ControlApi(server, journal_size=2).attach()
        _, mounted = await call(api, "POST", "/_mock/mounts", {"library": "text_turn"})
        for _ in range(3):
            await play_text_turn(mounted["ws_url"])
        async with connected(server.ws_url):  # the default mount's connections too
            pass
        await server.wait_for_sessions(0)
        _, journal = await call(api, "GET", "/_mock/journal")
        assert (journal["capacity"], journal["dropped"]) == (2, 2)
        assert [(e["mount"], e["connection"]) for e in journal["entries"]] == [("m1", 3), (None, 1)]
        _, latest = await call(api, "GET", "/_mock/journal?limit=1")
        assert [e["connection"] for e in latest["entries"]] == [1]
        await call(api, "POST", "/_mock/reset")
        _, journal = await call(api, "GET", "/_mock/journal")
        assert (journal["entries"], journal["dropped"]) == ([], 0)


async def test_off_loopback_requests_are_refused_without_the_flag_and_the_token() -> None:
    async with MockServer(port=0) as server:
        api = ControlApi(server).attach()
        status, error = await call(api, "GET", "/_mock/mounts", peer="192.0.2.7")
        assert (status, error["error"]["code"]) == (403, "control_loopback_only")
        assert "--control-remote" in error["error"]["message"]
        # A web page elsewhere, or a DNS name rebound to 127.0.0.1, gets nothing either.
        evil = {"Origin": "http://evil.example"}
        status, error = await call(api, "POST", "/_mock/reset", headers=evil)
        assert (status, error["error"]["code"]) == (403, "control_origin_refused")
        status, _ = await call(api, "GET", "/_mock/mounts", headers={"Host": "rebound.example"})
        assert status == 403
        local = {"Origin": "http://localhost:3000", "Host": "[::1]:8765"}
        assert (await call(api, "GET", "/_mock/mounts", headers=local, peer="::1"))[0] == 200
    async with MockServer(port=0) as server:
        api = ControlApi(server, token="s3cret-token", remote=True).attach()
        for peer in ("192.0.2.7", "127.0.0.1"):
            response = await api.handle(request("GET", "/_mock/mounts", peer=peer))
            assert response.status_code == 401 and "WWW-Authenticate" in response.headers
        wrong = {"Authorization": "Bearer guess"}
        assert (await call(api, "GET", "/_mock/mounts", peer="192.0.2.7", headers=wrong))[0] == 401
        good = {"Authorization": "Bearer s3cret-token", "Host": "mock.example:8765"}
        status, mounted = await call(api, "POST", "/_mock/mounts", peer="192.0.2.7", headers=good)
        assert status == 201
        # Another machine is given URLs by the name it reached the server with.
        assert mounted["ws_url"].startswith(f"ws://mock.example:{server.port}/mocks/m1/")
    with pytest.raises(ValueError, match="needs a token"):
        ControlAccess(remote=True)


def test_every_route_has_a_handler() -> None:
    for route in ROUTES:
        assert callable(getattr(ControlApi, route.handler)), route


async def test_the_verdict_waits_for_an_open_connection_to_settle(api: ControlApi) -> None:
    options = {"library": "text_turn", "timeout": "200ms", "dialect": "beta"}
    _, mounted = await call(api, "POST", "/_mock/mounts", options)
    with pytest.raises(InvalidStatus) as refused:  # a beta scenario refuses GA clients
        async with connected(mounted["ws_url"]):
            pass
    assert refused.value.response.status_code == 400
    beta = {"Authorization": "Bearer sk-test", "OpenAI-Beta": "realtime=v1"}
    async with connected(mounted["ws_url"], headers=beta):
        # The client says nothing: asked now, the verdict waits for the expectation's bound,
        # when the mock gives up on the client.
        status, verdict = await call(api, "GET", f"/_mock/mounts/{mounted['id']}/verdict")
    assert (status, verdict["settled"], verdict["ok"]) == (200, True, False)
    assert "not within" in verdict["findings"][-1], verdict


def test_the_body_bound_is_a_scenario_files_bound_and_some_room() -> None:
    from mock_server.scenario.yaml_source import MAX_FILE_BYTES

    assert control_module.MAX_BODY_BYTES == MAX_FILE_BYTES + 64 * 1024
