"""The step runner on a real server: rules, templated sends, faults, waits, groups, the clock."""

from __future__ import annotations

import asyncio
import json
import os
from collections.abc import AsyncIterator
from contextlib import AbstractAsyncContextManager, asynccontextmanager

import pytest
from websockets.asyncio.client import ClientConnection
from websockets.exceptions import ConnectionClosed

from mock_server import audio
from mock_server.scenario.loader import FIXTURES, load_scenario_text
from mock_server.scenario.served import ServedScenario
from mock_server.scenario.verdict import ScenarioVerdict
from mock_server.server import MockServer
from tests.helpers import MODEL_QUERY, WAIT, connected, recv, recv_until, send, serving

HEAD = "name: t\ndescription: a test scenario\n"


@asynccontextmanager
async def served(
    text: str, *, checked: bool = True
) -> AsyncIterator[tuple[MockServer, ServedScenario]]:
    play = ServedScenario(load_scenario_text(HEAD + text, "t.yaml", checked=checked))
    async with serving(play.mount()) as server:
        yield server, play


def client(server: MockServer) -> AbstractAsyncContextManager[ClientConnection]:
    """A client of the served scenario, ``session.created`` already read."""
    return connected(server.ws_url + MODEL_QUERY)


async def verdict_after(server: MockServer, play: ServedScenario) -> ScenarioVerdict:
    await server.wait_for_sessions(at_most=0)
    return play.verdict()


async def test_rule_answers_every_response_create_after_the_third_with_an_error() -> None:
    text = """
session: {output_modalities: [text]}
rules:
  - when: {type: response.create, after: 3}
    do:
      - error: {code: rate_limit_exceeded, type: tokens, message: "Rate limit reached."}
"""
    async with served(text) as (server, play), client(server) as ws:  # noqa: RUF059
        for _ in range(3):
            await send(ws, {"type": "response.create"})
            assert (await recv_until(ws, "response.done"))["response"]["status"] == "completed"
        await send(ws, {"type": "response.create"})
        error = await recv_until(ws, "error")
        assert error["error"]["code"] == "rate_limit_exceeded"


async def test_send_is_templated_with_captures_and_new_ids() -> None:
    text = """
steps:
  - expect:
      type: conversation.item.create
      capture: {said: "item.content[0].text"}
  - send:
      type: conversation.item.added
      previous_item_id: null
      item:
        id: "{{ new.item_id }}"
        type: message
        role: assistant
        content: [{type: output_text, text: "echo {{ said }}"}]
"""
    async with served(text) as (server, play), client(server) as ws:  # noqa: RUF059
        await send(
            ws,
            {
                "type": "conversation.item.create",
                "item": {
                    "type": "message",
                    "role": "user",
                    "content": [{"type": "input_text", "text": "ping"}],
                },
            },
        )
        await recv_until(ws, "conversation.item.done")
        added = await recv_until(ws, "conversation.item.added")
        assert added["item"]["content"][0]["text"] == "echo ping"
        assert added["item"]["id"].startswith("item_")


async def test_garbage_then_drop() -> None:
    text = "steps:\n  - garbage: true\n  - drop: true\n"
    async with served(text) as (server, play), client(server) as ws:  # noqa: RUF059
        raw = await asyncio.wait_for(ws.recv(), WAIT)
        with pytest.raises(json.JSONDecodeError):
            json.loads(raw)
        with pytest.raises(ConnectionClosed) as closed:
            await recv(ws)
        assert closed.value.rcvd is None  # no close frame: the TCP connection was cut


async def test_close_with_code_and_reason() -> None:
    text = "steps:\n  - close: {code: 4000, reason: invalid_request_error.missing_model}\n"
    async with served(text) as (server, play), client(server) as ws:  # noqa: RUF059
        with pytest.raises(ConnectionClosed) as closed:
            await recv(ws)
    assert closed.value.rcvd is not None
    assert (closed.value.rcvd.code, closed.value.rcvd.reason) == (
        4000,
        "invalid_request_error.missing_model",
    )


async def test_expire_after_60_virtual_minutes_takes_a_fraction_of_a_second() -> None:
    text = "time_scale: 36000\nmax_duration: 60m\nsteps:\n  - expect: response.create\n"
    async with served(text) as (server, play), client(server) as ws:  # noqa: RUF059
        loop = asyncio.get_running_loop()
        start = loop.time()
        error = await recv_until(ws, "error")
        assert error["error"]["code"] == "session_expired"
        assert "60 minutes" in error["error"]["message"]
        with pytest.raises(ConnectionClosed) as closed:
            await recv(ws)
        assert loop.time() - start < 2.0
    assert closed.value.rcvd is not None and closed.value.rcvd.code == 1001


async def test_an_unmet_expectation_within_its_time_names_what_came_instead() -> None:
    text = """
time_scale: 100
steps:
  - expect: {type: response.create, within: 30s}
"""
    async with served(text) as (server, play), client(server) as ws:
        await send(ws, {"type": "input_audio_buffer.clear"})
        await recv_until(ws, "input_audio_buffer.cleared")
        # 30 virtual seconds are 0.3 s here: wait (bounded) for the runner to give up.
        assert await asyncio.to_thread(play.runners[0].finished.wait, WAIT)
        await ws.close()
    verdict = play.verdict()
    assert not verdict.ok
    assert "not within 30s (came instead: input_audio_buffer.clear)" in "\n".join(verdict.findings)


async def test_wait_holds_the_script() -> None:
    text = """
time_scale: 1000
steps:
  - wait: 5s
  - error: {code: after_the_wait, message: waited}
"""
    async with served(text) as (server, play), client(server) as ws:  # noqa: RUF059
        error = await recv_until(ws, "error")
        assert error["error"]["code"] == "after_the_wait"


async def test_stall_delays_output_without_losing_it() -> None:
    text = """
time_scale: 100
steps:
  - stall: 20s
  - error: {code: after_the_stall, message: late}
"""
    async with served(text) as (server, play), client(server) as ws:  # noqa: RUF059
        await send(ws, {"type": "input_audio_buffer.clear", "event_id": "c1"})
        first = await recv(ws)
        second = await recv(ws)
        assert {first["type"], second["type"]} == {"input_audio_buffer.cleared", "error"}


async def test_any_order_optional_and_repeat() -> None:
    text = """
steps:
  - optional:
      - expect: session.update
  - any_order:
      - expect: input_audio_buffer.clear
      - expect: conversation.item.delete
  - repeat:
      times: 2
      steps:
        - expect: response.cancel
"""
    async with served(text) as (server, play), client(server) as ws:
        await send(ws, {"type": "conversation.item.delete", "item_id": "item_x"})
        await send(ws, {"type": "input_audio_buffer.clear"})
        await send(ws, {"type": "response.cancel"})
        await send(ws, {"type": "response.cancel"})
        await recv_until(ws, "input_audio_buffer.cleared")
        await recv_until(ws, "error")
        await recv_until(ws, "error")
    verdict = await verdict_after(server, play)
    satisfied = verdict.connections[0].satisfied
    assert list(satisfied) == [
        "any order: input_audio_buffer.clear, conversation.item.delete",
        "expect response.cancel",
        "expect response.cancel",
    ]
    assert verdict.connections[0].unmet == ()


@pytest.mark.parametrize(("policy", "ok"), [("ignore", True), ("record", True), ("fail", False)])
async def test_unexpected_events_follow_the_policy(policy: str, ok: bool) -> None:
    text = f"unexpected: {policy}\nsteps:\n  - expect: input_audio_buffer.clear\n"
    async with served(text) as (server, play), client(server) as ws:
        await send(ws, {"type": "input_audio_buffer.commit"})
        await recv_until(ws, "error")
        await send(ws, {"type": "input_audio_buffer.clear"})
        await recv_until(ws, "input_audio_buffer.cleared")
    verdict = await verdict_after(server, play)
    unexpected = verdict.connections[0].unexpected
    assert [e.type for e in unexpected] == (
        [] if policy == "ignore" else ["input_audio_buffer.commit"]
    )
    # The commit was also a rejected event (an empty buffer): that is a mistake in any policy.
    assert any(m.code == "input_audio_buffer_commit_empty" for m in verdict.connections[0].mistakes)
    assert ok or "unexpected input_audio_buffer.commit" in "\n".join(verdict.findings)


@pytest.mark.parametrize(
    ("step", "problem"),
    [
        (
            "respond: {text: 'Home is {{ env.HOME }}'}",
            "respond: unknown name 'env.HOME' in template (known: none captured yet)",
        ),
        (
            """respond: {function_call: {name: f, arguments: "{{ __import__('os') }}"}}""",
            "respond: '{{ __import__('os') }}' is not a placeholder: only names like "
            "{{ call_id }} or {{ new.item_id }} are substituted (no expressions)",
        ),
        (
            "send: {type: response.done, x: '{{ os.environ }}'}",
            "send: unknown name 'os.environ' in template (known: none captured yet)",
        ),
    ],
)
async def test_templates_cannot_reach_the_environment_or_run_code(step: str, problem: str) -> None:
    text = f"""
steps:
  - expect: response.create
  - {step}
"""
    # Lint refuses these templates (tests/mock_server/scenario/test_lint.py); the run's own
    # defence is tested here.
    async with served(text, checked=False) as (server, play):
        async with client(server) as ws:
            await send(ws, {"type": "response.create"})
            if step.startswith("respond"):
                done = await recv_until(ws, "response.done")
                assert done["response"]["status"] == "failed"
                assert "bad template" in done["response"]["status_details"]["error"]["message"]
            await send(ws, {"type": "input_audio_buffer.clear"})
            # The connection goes on: the failed step is reported in the verdict, not played.
            assert (await recv_until(ws, "input_audio_buffer.cleared"))["type"]
        verdict = await verdict_after(server, play)
    assert problem in verdict.findings[-1], verdict.findings
    assert os.environ.get("HOME", "/") not in json.dumps(
        server.connections[-1].transcript.to_json()
    )


async def test_an_audio_expect_takes_the_appends_of_its_fixture_then_the_next_step() -> None:
    text = """
session: {output_modalities: [text], audio: {input: {turn_detection: null}}}
steps:
  - expect: {type: input_audio_buffer.append, audio: fixture:audio/question.wav}
  - expect: input_audio_buffer.commit
  - expect: response.create
  - respond: {text: "Heard you."}
"""
    pcm = audio.load_wav(FIXTURES / "audio" / "question.wav").tobytes()
    async with served(text) as (server, play), client(server) as ws:
        for piece in audio.chunk(pcm, 100):
            await send(ws, {"type": "input_audio_buffer.append", "audio": audio.encode_b64(piece)})
        await send(ws, {"type": "input_audio_buffer.commit"})
        await send(ws, {"type": "response.create"})
        done = await recv_until(ws, "response.done")
    assert done["response"]["output"][0]["content"][0]["text"] == "Heard you."
    verdict = await verdict_after(server, play)
    assert verdict.ok, verdict.findings
    assert "(the audio of fixture:audio/question.wav)" in verdict.connections[0].satisfied[0]


async def test_an_instead_expect_answers_even_an_event_the_emulator_would_refuse() -> None:
    text = """
steps:
  - expect: {type: conversation.item.create, item: {type: bogus}, instead: true}
  - error: {code: made_up, message: "Answered by the scenario."}
"""
    async with served(text) as (server, play), client(server) as ws:
        await send(ws, {"type": "conversation.item.create", "item": {"type": "bogus"}})
        error = await recv_until(ws, "error")
        await ws.close()
    assert error["error"]["code"] == "made_up"  # not the emulator's validation error
    verdict = await verdict_after(server, play)
    assert verdict.ok, verdict.findings


async def test_an_ended_connection_leaves_the_verdict_and_lets_the_session_go() -> None:
    """``serve --scenario`` runs for hours: the runners keep each verdict, not each session."""
    import gc
    import weakref

    play = ServedScenario(load_scenario_text(HEAD + "steps:\n  - expect: response.create\n", "t"))
    async with serving(play.mount(), keep_ended=0) as server:
        async with client(server) as ws:
            await send(ws, {"type": "response.cancel", "event_id": "evt_c"})  # a mistake
            await recv_until(ws, "error")
            session = weakref.ref(server.connections[0].session)  # type: ignore[arg-type]
        verdict = await verdict_after(server, play)
    gc.collect()
    assert session() is None
    assert [m.code for m in verdict.connections[0].mistakes] == ["response_cancel_not_active"]
    assert "the connection ended first" in verdict.findings[0]


async def test_an_mcp_call_renders_captures_and_a_later_respond_replaces_the_held_one() -> None:
    text = """
dialect: ga
session:
  output_modalities: [text]
  tools: [{type: mcp, server_label: docs, server_url: "https://docs.example.com/mcp"}]
steps:
  - expect: {type: conversation.item.create, capture: {said: "item.content[0].text"}}
  - expect: response.create
  - respond:
      mcp_call:
        {server_label: docs, name: search, arguments: {q: "{{ said }}"}, output: "{{ said }}!"}
  - expect: {type: conversation.item.create, item: {type: mcp_approval_response}}
  - expect: response.create
  - respond:
      items:
        - mcp_call: {server_label: docs, name: search, arguments: {q: again}, output: found}
        - text: Done.
"""
    async with served(text) as (server, play), client(server) as ws:
        await send(ws, {"type": "conversation.item.create", "item": _user("weather")})
        await send(ws, {"type": "response.create"})
        done = await recv_until(ws, "response.done")
        (request,) = done["response"]["output"]
        assert request["type"] == "mcp_approval_request"
        assert json.loads(request["arguments"]) == {"q": "weather"}
        answer = {
            "type": "mcp_approval_response",
            "id": "mcpa_1",
            "approval_request_id": request["id"],
            "approve": True,
        }
        await send(ws, {"type": "conversation.item.create", "item": answer})
        await send(ws, {"type": "response.create"})
        done = await recv_until(ws, "response.done")
        call, message = done["response"]["output"]
        assert (call["arguments"], call["output"]) == ('{"q": "again"}', "found")
        assert call["approval_request_id"] == request["id"]
        assert message["content"][0]["text"] == "Done."
    verdict = await verdict_after(server, play)
    assert verdict.ok, verdict


def _user(text: str) -> dict[str, object]:
    return {"type": "message", "role": "user", "content": [{"type": "input_text", "text": text}]}
