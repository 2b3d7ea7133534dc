"""The openai SDK's own reconnection (``on_reconnecting``, openai 3.57) against the library's
``reconnect`` scenario: the mock cuts the connection (the SDK sees 1006), then closes it with
1011, 1012 and 1013; the SDK reconnects by itself each time, the application replays its
conversation on each new session, and the scenario's verdict checks the replay."""

from __future__ import annotations

import asyncio
from typing import Any

from openai import AsyncOpenAI
from openai.types.websocket_reconnection import ReconnectingEvent, ReconnectingOverrides

from mock_server.scenario.loader import load_scenario, resolve_scenario
from mock_server.scenario.served import ServedScenario
from tests.helpers import WAIT, serving, user_message

TURNS = 5


async def test_the_sdk_reconnects_after_1006_1011_1012_1013_and_the_replay_passes() -> None:
    scenario = ServedScenario(load_scenario(resolve_scenario("reconnect")))
    close_codes: list[int] = []

    def on_reconnecting(event: ReconnectingEvent) -> ReconnectingOverrides | None:
        close_codes.append(event.close_code)
        return None

    history: list[dict[str, Any]] = []  # the conversation so far, as items to replay
    answers: list[str] = []
    async with serving(scenario.mount()) as server:
        client = AsyncOpenAI(api_key="sk-test", base_url=server.base_url)
        async with client.realtime.connect(
            model="gpt-realtime",
            on_reconnecting=on_reconnecting,
            initial_delay=0.05,
            max_delay=0.2,
        ) as conn:

            async def converse() -> None:
                async for event in conn:
                    if event.type == "session.created":
                        # A new session (the first, or after a reconnect): restore the
                        # conversation, then take the next turn.
                        await conn.session.update(
                            session={"type": "realtime", "output_modalities": ["text"]}
                        )
                        for item in history:
                            await conn.conversation.item.create(item=item)  # type: ignore[arg-type]
                        turn = user_message(f"Turn {len(answers) + 1}.")
                        await conn.conversation.item.create(item=turn)
                        await conn.response.create()
                    elif event.type == "response.output_text.done":
                        answers.append(event.text)
                        history.append(user_message(f"Turn {len(answers)}."))
                        history.append(
                            {
                                "type": "message",
                                "role": "assistant",
                                "content": [{"type": "output_text", "text": event.text}],
                            }
                        )
                    elif event.type == "response.done" and len(answers) == TURNS:
                        return

            await asyncio.wait_for(converse(), 4 * WAIT)
        await server.wait_for_sessions(at_most=0)
    assert close_codes == [1006, 1011, 1012, 1013]
    assert answers[-1] == "Answer five: all of it replayed."
    verdict = scenario.verdict()
    assert verdict.ok, str(verdict)
