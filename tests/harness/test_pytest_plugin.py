"""The pytest plugin, as a user's test suite sees it (through pytester)."""

from __future__ import annotations

import pytest

pytest_plugins = ["pytester"]

AGENT = '''
import asyncio, json
from openai import OpenAI

def ask(mock, text):
    """A tiny voice agent: one text turn, and the tool loop."""
    client = OpenAI(api_key=mock.api_key, base_url=mock.base_url)
    with client.realtime.connect(model="gpt-realtime") as conn:
        conn.session.update(session={"type": "realtime", "output_modalities": ["text"]})
        conn.conversation.item.create(item={
            "type": "message", "role": "user",
            "content": [{"type": "input_text", "text": text}],
        })
        conn.response.create()
        answer = ""
        for event in conn:
            if event.type == "response.output_text.done":
                answer = event.text
            if event.type == "response.done":
                calls = [o for o in event.response.output if o.type == "function_call"]
                if not calls:
                    return answer
                for call in calls:
                    conn.conversation.item.create(item={
                        "type": "function_call_output", "call_id": call.call_id,
                        "output": json.dumps({"sky": "sunny"}),
                    })
                conn.response.create()
'''


def run(pytester: pytest.Pytester, *args: str) -> pytest.RunResult:
    return pytester.runpytest_subprocess("-p", "no:cacheprovider", "--timeout=60", *args)


def test_a_passing_suite_with_sync_async_and_marker(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(agent=AGENT)
    pytester.makepyfile(
        test_agent="""
        import pytest
        from agent import ask

        def test_canned_model_echoes(realtime_mock):
            mock = realtime_mock()
            assert ask(mock, "ping") == 'You said: "ping".'
            mock.assert_received("conversation.item.create", item={"role": "user"})
            mock.assert_verdict_ok()

        def test_scripted_function_call(realtime_mock):
            mock = realtime_mock("function_call")
            assert ask(mock, "Weather?") == "It is sunny in Paris."
            mock.assert_received(
                "conversation.item.create",
                item={"type": "function_call_output", "call_id": "call_weather_1"},
            )
            mock.assert_verdict_ok()

        @pytest.mark.realtime_scenario("text_turn")
        def test_marker(realtime_mock):
            mock = realtime_mock()
            assert "sunny" in ask(mock, "hi")

        async def test_async(realtime_mock):
            from openai import AsyncOpenAI
            mock = realtime_mock()
            client = AsyncOpenAI(api_key=mock.api_key, base_url=mock.base_url)
            async with client.realtime.connect(model="gpt-realtime") as conn:
                event = await conn.recv()
                assert event.type == "session.created"
        """
    )
    run(pytester, "-p", "asyncio", "-o", "asyncio_mode=auto").assert_outcomes(passed=4)


def test_a_failing_test_shows_the_timeline(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(agent=AGENT)
    pytester.makepyfile(
        test_fails="""
        from agent import ask

        def test_wrong_expectation(realtime_mock):
            mock = realtime_mock()
            ask(mock, "hello there")
            mock.assert_received("conversation.item.create", item={"role": "assistant"})
        """
    )
    result = run(pytester)
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(
        [
            "*no conversation.item.create matched*",
            "*item.role: expected 'assistant', got 'user'*",
            "*realtime-mock timeline*",
            "*-> session.update*",
            "*<- response.output_text.delta*",
            "*... and * more response.output_text.delta*",
        ]
    )


def test_an_unmet_scenario_fails_even_if_the_test_did_not_ask(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(
        test_forgot="""
        def test_connects_but_never_asks(realtime_mock):
            realtime_mock("text_turn")  # the client never connects
        """
    )
    result = run(pytester)
    result.assert_outcomes(passed=1, errors=1)
    result.stdout.fnmatch_lines(["*the scenario's expectations were not met*"])
    run(pytester, "--realtime-mock-lenient").assert_outcomes(passed=1)


def test_xdist_with_two_workers(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(agent=AGENT)
    tests = "\n".join(
        f"""
def test_{n}(realtime_mock):
    mock = realtime_mock()
    assert ask(mock, "n{n}") == 'You said: "n{n}".'
"""
        for n in range(6)
    )
    pytester.makepyfile(test_many="from agent import ask\n" + tests)
    run(pytester, "-n", "2").assert_outcomes(passed=6)
