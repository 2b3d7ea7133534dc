"""A small voice agent built on the official openai SDK: the kind of code realtime-mock tests.

It answers a question, runs its tools when the model calls them, and returns the final answer.
Point it at the mock with ``base_url`` (tests) or leave the default (production).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from openai import OpenAI

TOOLS: dict[str, Callable[[dict[str, Any]], Any]] = {
    "get_weather": lambda args: {"city": args.get("city"), "sky": "sunny", "celsius": 22},
}
TOOL_SCHEMAS = [
    {
        "type": "function",
        "name": "get_weather",
        "description": "The current weather in a city.",
        "parameters": {
            "type": "object",
            "properties": {"city": {"type": "string"}},
            "required": ["city"],
        },
    }
]


class WeatherAgent:
    def __init__(self, api_key: str, base_url: str | None = None) -> None:
        self.client = OpenAI(api_key=api_key, base_url=base_url)

    def ask(self, question: str) -> str:
        with self.client.realtime.connect(model="gpt-realtime") as conn:
            conn.session.update(
                session={
                    "type": "realtime",
                    "output_modalities": ["text"],
                    "tools": TOOL_SCHEMAS,
                }
            )
            conn.conversation.item.create(
                item={
                    "type": "message",
                    "role": "user",
                    "content": [{"type": "input_text", "text": question}],
                }
            )
            conn.response.create()
            answer = ""
            for event in conn:
                if event.type == "error":
                    raise RuntimeError(f"{event.error.code}: {event.error.message}")
                if event.type == "response.output_text.done":
                    answer = event.text
                if event.type == "response.done":
                    calls = [o for o in event.response.output or [] if o.type == "function_call"]
                    if not calls:
                        return answer
                    for call in calls:
                        result = TOOLS[call.name](json.loads(call.arguments))
                        conn.conversation.item.create(
                            item={
                                "type": "function_call_output",
                                "call_id": call.call_id,
                                "output": json.dumps(result),
                            }
                        )
                    conn.response.create()
            return answer
