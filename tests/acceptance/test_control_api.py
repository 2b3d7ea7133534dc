"""The control API end to end: ``realtime-mock serve`` answering HTTP on its own port, a mount
per test, the official openai SDK as the client, the verdict read back; the token's refusal."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator

import pytest
from openai import AsyncOpenAI

from tests.acceptance.control_serve import Served, serving
from tests.helpers import WAIT, user_message

SCENARIO = """\
name: greeting
description: One text turn.
steps:
  - expect: conversation.item.create
  - expect: response.create
  - respond: {text: Hello over the control API.}
"""


@pytest.fixture(scope="module")
def served() -> Iterator[Served]:
    with serving() as running:
        yield running


async def text_turn(base_url: str) -> str:
    ws_base = base_url.replace("http://", "ws://")
    client = AsyncOpenAI(api_key="sk-test", base_url=base_url, websocket_base_url=ws_base)
    async with client.realtime.connect(model="gpt-realtime") as conn:
        await conn.conversation.item.create(item=user_message("Hello"))  # type: ignore[arg-type]
        await conn.response.create()
        async for event in conn:
            if event.type == "response.done":
                part = event.response.output[0].content[0]  # type: ignore[union-attr,index]
                return str(part.text or part.transcript)
    raise AssertionError("closed before response.done")


def test_a_posted_scenario_is_served_played_judged_and_deleted(served: Served) -> None:
    status, mounted = served.call(
        "POST", "/mounts?id=greeting-1", SCENARIO.encode(), "application/yaml"
    )
    assert status == 201, mounted
    assert mounted["base_url"] == f"{served.http}/mocks/greeting-1/v1"
    answer = asyncio.run(asyncio.wait_for(text_turn(mounted["base_url"]), WAIT))
    assert answer == "Hello over the control API."
    status, verdict = served.call("GET", "/mounts/greeting-1/verdict")
    assert (status, verdict["ok"], verdict["scenario"]) == (200, True, "greeting"), verdict
    status, transcript = served.call("GET", "/mounts/greeting-1/transcript?limit=3")
    entries = transcript["connections"][0]["entries"]
    assert entries[0]["type"] == "session.created" and len(entries) == 3
    status, deleted = served.call("DELETE", "/mounts/greeting-1")
    assert (status, deleted["verdict"]["ok"]) == (200, True)
    assert served.call("GET", "/mounts/greeting-1")[0] == 404
    status, journal = served.call("GET", "/journal")
    assert [(e["mount"], e["ok"]) for e in journal["entries"]][-1] == ("greeting-1", True)


def test_a_second_mount_is_judged_apart(served: Served) -> None:
    _, passing = served.post_json("/mounts", {"library": "text_turn"})
    _, failing = served.post_json("/mounts", {"scenario": SCENARIO.replace("Hello", "Hi")})
    asyncio.run(asyncio.wait_for(text_turn(passing["base_url"]), WAIT))
    # No client ever connects to the second mount: its verdict says so, the first's is ok.
    assert served.call("GET", f"/mounts/{passing['id']}/verdict")[1]["ok"] is True
    status, verdict = served.call("GET", f"/mounts/{failing['id']}/verdict?wait=0")
    assert (status, verdict["ok"]) == (200, False)
    assert "expected 1 accepted connection(s), the client made 0" in verdict["findings"]


def test_http_errors_have_the_openai_body(served: Served) -> None:
    status, error = served.call("PUT", "/mounts")
    assert (status, error["error"]["code"]) == (405, "method_not_allowed")
    status, error = served.post_json("/mounts", {"library": "text_trun"})
    assert status == 400 and "did you mean text_turn" in error["error"]["message"]
    status, error = served.call("POST", "/mounts", b"steps:\n  - respnd: 1\n", "text/yaml")
    assert status == 400 and "body:2:" in error["error"]["message"]
    status, error = served.call("POST", "/mounts", b"#" * (5 * 1024 * 1024), "application/yaml")
    assert status == 413 and error["error"]["message"]
    status, error = served.call("GET", "/mounts/none/verdict")
    assert (status, error["error"]["code"]) == (404, "not_found")
    # A web page of another origin (a browser adds Origin) gets nothing, GET or POST.
    evil = {"Origin": "https://evil.example"}
    for method in ("GET", "POST"):
        status, error = served.call(
            method, "/reset" if method == "POST" else "/mounts", headers=evil
        )
        assert (status, error["error"]["code"]) == (403, "control_origin_refused")
    status, reset = served.call("POST", "/reset")
    assert status == 200 and isinstance(reset["deleted"], int)
    assert served.call("GET", "/mounts")[1] == {"mounts": []}


def test_with_a_token_every_request_carries_it() -> None:
    with serving("--control-token", "tok-12345") as running:
        status, error = running.call("GET", "/mounts")
        assert (status, error["error"]["code"]) == (401, "control_token_required")
        assert "tok-12345" not in json.dumps(error)
        status, _ = running.call("GET", "/mounts", headers={"Authorization": "Bearer tok-12345"})
        assert status == 200
    with serving("--no-control") as running:  # the port answers, the control API does not
        assert running.call("GET", "/mounts")[0] == 404


def test_other_machines_are_let_in_only_with_a_token(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from harness.cli import main

    monkeypatch.delenv("REALTIME_MOCK_CONTROL_TOKEN", raising=False)
    assert main(["serve", "--port", "0", "--control-remote"]) == 2
    assert "--control-remote needs --control-token" in capsys.readouterr().err
