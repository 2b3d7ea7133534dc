"""``realtime-mock demo``: start a mock and hold a short conversation with it.

It uses a plain websockets client (no SDK) so that every frame is visible: a text turn, an audio
turn whose reply is written to a WAV file, a function-call round trip, and an error the client
provokes on purpose. Each step prints what was sent and what came back, and the demo ends with a
table of checks and exit status 0 only when every one passed.
"""

from __future__ import annotations

import asyncio
import base64
import json
from pathlib import Path
from typing import Any

from mock_server.audio import write_wav
from websockets.asyncio.client import ClientConnection, connect

from mock_server.server import MockServer, Mount

TIMEOUT_S = 10.0
WEATHER_TOOL = {
    "type": "function",
    "name": "get_weather",
    "description": "Current weather in a city",
    "parameters": {
        "type": "object",
        "properties": {"city": {"type": "string"}},
        "required": ["city"],
    },
}


class DemoClient:
    def __init__(self, ws: ClientConnection, dialect: str) -> None:
        self.ws = ws
        self.dialect = dialect

    async def send(self, event: dict[str, Any]) -> None:
        print(f"  -> {event['type']}")
        await self.ws.send(json.dumps(event))

    async def until(self, *types: str) -> list[dict[str, Any]]:
        """Receive events until one of ``types`` arrives; returns all received."""
        received: list[dict[str, Any]] = []
        while True:
            event = json.loads(await asyncio.wait_for(self.ws.recv(), TIMEOUT_S))
            received.append(event)
            if event["type"] not in (
                "response.output_audio.delta",
                "response.audio.delta",
                "response.output_audio_transcript.delta",
                "response.audio_transcript.delta",
                "response.output_text.delta",
                "response.text.delta",
                "response.function_call_arguments.delta",
            ):
                print(f"  <- {event['type']}")
            if event["type"] in types:
                return received

    def session(self, **ga: Any) -> dict[str, Any]:
        if self.dialect == "ga":
            return {"type": "realtime", **ga}
        beta: dict[str, Any] = {}
        for key, value in ga.items():
            if key == "output_modalities":
                beta["modalities"] = ["text", "audio"] if "audio" in value else ["text"]
            else:
                beta[key] = value
        return beta

    def response(self, modality: str) -> dict[str, Any]:
        if self.dialect == "ga":
            return {"output_modalities": [modality]}
        return {"modalities": ["text", "audio"] if modality == "audio" else ["text"]}


def _user_text(text: str) -> dict[str, Any]:
    return {
        "type": "conversation.item.create",
        "item": {
            "type": "message",
            "role": "user",
            "content": [{"type": "input_text", "text": text}],
        },
    }


async def run_demo(out: str, dialect: str = "ga") -> int:
    out_dir = Path(out)
    out_dir.mkdir(parents=True, exist_ok=True)
    checks: list[tuple[str, bool, str]] = []
    async with MockServer(port=0, default_mount=Mount(pace=0.1, seed="demo")) as server:
        headers = {"Authorization": "Bearer sk-demo"}
        if dialect == "beta":
            headers["OpenAI-Beta"] = "realtime=v1"
        print(f"realtime-mock demo ({dialect}): mock at {server.ws_url}\n")
        url = f"{server.ws_url}?model=gpt-realtime"
        async with connect(url, additional_headers=headers, max_size=None) as ws:
            client = DemoClient(ws, dialect)
            print("1. connect")
            created = await client.until("session.created")
            checks.append(("session.created first", created[0]["type"] == "session.created", ""))

            print("\n2. text turn")
            await client.send(
                {"type": "session.update", "session": client.session(output_modalities=["text"])}
            )
            await client.until("session.updated")
            await client.send(_user_text("Hello, mock!"))
            await client.send({"type": "response.create"})
            events = await client.until("response.done")
            text_done = [
                e
                for e in events
                if e["type"] in ("response.output_text.done", "response.text.done")
            ]
            text = text_done[0]["text"] if text_done else ""
            print(f"  model said: {text!r}")
            checks.append(("text turn", bool(text), text))

            print("\n3. audio turn")
            await client.send(_user_text("Say something out loud."))
            await client.send({"type": "response.create", "response": client.response("audio")})
            events = await client.until("response.done")
            pcm = b"".join(
                base64.b64decode(e["delta"])
                for e in events
                if e["type"] in ("response.output_audio.delta", "response.audio.delta")
            )
            wav = out_dir / "reply.wav"
            write_wav(wav, pcm)
            seconds = len(pcm) / 48000
            print(f"  reply audio: {seconds:.2f} s written to {wav}")
            checks.append(("audio turn", len(pcm) > 0 and len(pcm) % 2 == 0, f"{seconds:.2f} s"))

            print("\n4. function call round trip")
            choice: Any = (
                {"type": "function", "name": "get_weather"} if dialect == "ga" else "get_weather"
            )
            await client.send(
                {
                    "type": "session.update",
                    "session": client.session(
                        output_modalities=["text"], tools=[WEATHER_TOOL], tool_choice=choice
                    ),
                }
            )
            await client.until("session.updated")
            await client.send(_user_text("What's the weather in Paris?"))
            await client.send({"type": "response.create"})
            events = await client.until("response.done")
            call = next(e for e in events if e["type"] == "response.function_call_arguments.done")
            print(f"  model called get_weather({call['arguments']})")
            await client.send(
                {
                    "type": "conversation.item.create",
                    "item": {
                        "type": "function_call_output",
                        "call_id": call["call_id"],
                        "output": json.dumps({"temperature_c": 22, "sky": "sunny"}),
                    },
                }
            )
            await client.send({"type": "response.create"})
            events = await client.until("response.done")
            text_done = [
                e
                for e in events
                if e["type"] in ("response.output_text.done", "response.text.done")
            ]
            answer = text_done[0]["text"] if text_done else ""
            print(f"  model answered: {answer!r}")
            checks.append(("function call round trip", "sunny" in answer, call["arguments"]))

            print("\n5. a mistake on purpose: response.cancel with nothing to cancel")
            await client.send({"type": "response.cancel", "event_id": "evt_demo_cancel"})
            error = (await client.until("error"))[-1]["error"]
            print(f"  error {error['code']}: {error['message']} (event_id {error['event_id']})")
            checks.append(
                ("error names the event", error["event_id"] == "evt_demo_cancel", error["code"])
            )
    print("\n" + _table(checks))
    return 0 if all(ok for _, ok, _ in checks) else 1


def _table(checks: list[tuple[str, bool, str]]) -> str:
    width = max(len(name) for name, _, _ in checks)
    lines = [f"{'check'.ljust(width)}  result  detail", f"{'-' * width}  ------  ------"]
    for name, ok, detail in checks:
        lines.append(f"{name.ljust(width)}  {'pass' if ok else 'FAIL':6}  {detail[:60]}")
    passed = sum(ok for _, ok, _ in checks)
    lines.append(f"\n{passed} passed, {len(checks) - passed} failed")
    return "\n".join(lines)
