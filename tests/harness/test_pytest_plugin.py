"""The pytest plugin, as a user's test suite sees it (through pytester)."""

from __future__ import annotations

import pytest

pytest_plugins = ["pytester"]


def test_plugin_is_registered_and_serves_a_sync_sdk_client(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(
        """
        from openai import OpenAI

        def test_text_turn(realtime_mock_server):
            client = OpenAI(api_key="sk-test", base_url=realtime_mock_server.base_url)
            with client.realtime.connect(model="gpt-realtime") as conn:
                conn.session.update(session={"type": "realtime", "output_modalities": ["text"]})
                conn.conversation.item.create(item={
                    "type": "message", "role": "user",
                    "content": [{"type": "input_text", "text": "ping"}],
                })
                conn.response.create()
                for event in conn:
                    if event.type == "response.output_text.done":
                        assert event.text == 'You said: "ping".'
                    if event.type == "response.done":
                        break

        def test_same_server_for_the_session(realtime_mock_server):
            assert len(realtime_mock_server.connections) == 1
        """
    )
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider", "--timeout=20")
    result.assert_outcomes(passed=2)
