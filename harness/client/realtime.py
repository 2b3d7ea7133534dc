"""The reference client's conversation: turns, function calls (and MCP approvals), audio in,
barge-in, reconnects.

:class:`RealtimeClient` is a :class:`~harness.client.connection.Connection` that keeps the
conversation (GA-shaped, sent in the dialect's shape), runs the function-call loop against its
tool registry, streams PCM16 audio, truncates the reply at what was played when the user talks
over it, and replays the conversation on a new session when one ends by its maximum duration.
"""

from __future__ import annotations

import asyncio
import base64
import json
from collections.abc import Awaitable, Callable
from typing import Any

from websockets.exceptions import ConnectionClosed

from harness.client.config import Turn
from harness.client.connection import Connection
from harness.client.errors import FATAL_CODES, ClientError, SessionError, session_ended
from mock_server.protocol import formats
from mock_server.protocol.events import Dialect

AUDIO_DELTAS = ("response.output_audio.delta", "response.audio.delta")
TEXT_DONE = ("response.output_text.done", "response.text.done")
TRANSCRIPT_DONE = ("response.output_audio_transcript.done", "response.audio_transcript.done")
BYTES_PER_MS = formats.BYTES_PER_MS["pcm16"]


class RealtimeClient(Connection):
    """An async Realtime client::

    config = ClientConfig(url="ws://127.0.0.1:8765/v1/realtime", api_key="sk-x")
    async with RealtimeClient(config) as client:
        turn = await client.say("Hello")
        print(turn.text)
    """

    # ---- conversation --------------------------------------------------------------------

    async def add_item(self, item: dict[str, Any]) -> None:
        """Create an item (kept in the GA shape in :attr:`history`, sent in the dialect's)."""
        wire = item
        if self.config.dialect is Dialect.BETA and item.get("role") == "assistant":
            wire = {
                **item,
                "content": [
                    {**part, "type": "text"} if part.get("type") == "output_text" else part
                    for part in item.get("content", [])
                ],
            }
        await self.send({"type": "conversation.item.create", "item": wire})
        self.history.append(item)

    async def say(self, text: str, **response: Any) -> Turn:
        """Send a user message and run the response (and any function calls) to the end."""
        item = {
            "type": "message",
            "role": "user",
            "content": [{"type": "input_text", "text": text}],
        }
        return await self._with_reconnect(self._say_once, item, response)

    async def _say_once(self, item: dict[str, Any], response: dict[str, Any]) -> Turn:
        await self.add_item(item)
        return await self.respond(**response)

    async def respond(self, **response: Any) -> Turn:
        """``response.create``, then run the function-call loop until a response has no calls."""
        while True:
            event: dict[str, Any] = {"type": "response.create"}
            if response:
                event["response"] = response
            await self.send(event)
            turn = await self.read_response()
            asked = [i for i in turn.items if i.get("type") == "mcp_approval_request"]
            if not (turn.function_calls or asked) or turn.status != "completed":
                return turn
            for request in asked:
                await self.answer_approval(request)
            for call in turn.function_calls:
                await self.add_item(
                    {
                        "type": "function_call_output",
                        "call_id": call["call_id"],
                        "output": await self._run_tool(call),
                    }
                )

    async def answer_approval(self, request: dict[str, Any]) -> None:
        """Answer an MCP approval request (``config.approve_mcp`` decides); the response
        that follows runs the call, or goes on without it."""
        answer = {
            "type": "mcp_approval_response",
            "id": "mcpa_" + request["id"][-21:],
            "approval_request_id": request["id"],
            "approve": bool(self.config.approve_mcp(request)),
        }
        await self.send({"type": "conversation.item.create", "item": answer})

    async def _run_tool(self, call: dict[str, Any]) -> str:
        tool = self.config.tools.get(call["name"])
        if tool is None:
            return json.dumps({"error": f"no tool named {call['name']!r}"})
        try:
            arguments = json.loads(call.get("arguments") or "{}")
        except json.JSONDecodeError as exc:
            return json.dumps({"error": f"arguments are not JSON: {exc}"})
        result = tool(arguments)
        if asyncio.iscoroutine(result) or isinstance(result, asyncio.Future):
            result = await result
        return result if isinstance(result, str) else json.dumps(result)

    async def read_response(self) -> Turn:
        """Read one response's events until ``response.done``."""
        turn = Turn()
        while True:
            event = await self._next_event()
            turn.events.append(event)
            kind = event.get("type", "")
            if kind == "error":
                error = event["error"]
                if error.get("event_id") in self._mine or error.get("code") in FATAL_CODES:
                    raise SessionError(f"{error.get('code')}: {error['message']}")
                continue  # the server's own trouble, not about our request: noted, go on
            if kind == "response.created":
                turn.response_id = event["response"]["id"]
            elif kind in AUDIO_DELTAS:
                turn.audio.extend(base64.b64decode(event["delta"]))
            elif kind in TEXT_DONE:
                turn.text += event["text"]
            elif kind in TRANSCRIPT_DONE:
                turn.text += event["transcript"]
            elif kind == "input_audio_buffer.speech_started" and turn.audio:
                await self._barge_in(turn)
            elif kind == "response.output_item.done":
                item = event["item"]
                turn.items.append(item)
                if item.get("type") == "function_call":
                    turn.function_calls.append(item)
                    self.history.append(
                        {k: item[k] for k in ("type", "name", "call_id", "arguments") if k in item}
                    )
                elif item.get("role") == "assistant":
                    self.history.append(assistant_text_item(item))
            elif kind == "response.done":
                turn.status = event["response"]["status"]
                return turn

    async def _barge_in(self, turn: Turn) -> None:
        """The user talks over the reply: stop playback, truncate at what was played."""
        item_id = next(
            (e["item_id"] for e in reversed(turn.events) if e.get("type") in AUDIO_DELTAS), None
        )
        if item_id is None:
            return
        received_ms = len(turn.audio) // BYTES_PER_MS
        played = self.played_ms(turn) if self.played_ms is not None else received_ms
        await self.send(
            {
                "type": "conversation.item.truncate",
                "item_id": item_id,
                "content_index": 0,
                "audio_end_ms": min(played, received_ms),
            }
        )

    # ---- audio in ------------------------------------------------------------------------

    async def stream_audio(
        self, pcm: bytes, *, chunk_ms: int = 20, realtime: bool = False, commit: bool | None = None
    ) -> None:
        """Stream PCM16 24 kHz audio; commit by hand when server VAD is off (or if asked)."""
        step = chunk_ms * BYTES_PER_MS
        loop = asyncio.get_running_loop()
        start = loop.time()
        for n, offset in enumerate(range(0, len(pcm), step)):
            chunk = pcm[offset : offset + step]
            await self.send(
                {"type": "input_audio_buffer.append", "audio": base64.b64encode(chunk).decode()}
            )
            if realtime:
                await asyncio.sleep(max(0.0, start + (n + 1) * chunk_ms / 1000 - loop.time()))
        if commit is None:
            commit = self._turn_detection() is None
        if commit:
            await self.send({"type": "input_audio_buffer.commit"})

    def _turn_detection(self) -> Any:
        if self.config.dialect is Dialect.GA:
            return self.session.get("audio", {}).get("input", {}).get("turn_detection")
        return self.session.get("turn_detection")

    # ---- the session's end -----------------------------------------------------------------

    async def _with_reconnect(self, action: Callable[..., Awaitable[Turn]], *args: Any) -> Turn:
        for _ in range(self.config.max_reconnects + 1):
            before = len(self.history)
            try:
                return await action(*args)
            except (ConnectionClosed, SessionError) as exc:
                if not session_ended(exc):
                    raise
                # The interrupted step starts over on the new session: forget what it added.
                del self.history[before:]
                await self.reconnect()
        raise ClientError("the session kept ending; gave up reconnecting")

    async def reconnect(self) -> None:
        """Open a new session and replay the conversation so far as items."""
        self.reconnects += 1
        await self.close()
        self._pending.clear()
        history, self.history = self.history, []
        await self.connect()
        for item in history:
            await self.add_item(item)
        for _ in history:
            await self.wait_for("conversation.item.done", "conversation.item.created")


def assistant_text_item(item: dict[str, Any]) -> dict[str, Any]:
    """An assistant message as it can be replayed (clients cannot create assistant audio)."""
    text = " ".join(
        part.get("text") or part.get("transcript") or "" for part in item.get("content", [])
    )
    return {
        "type": "message",
        "role": "assistant",
        "content": [{"type": "output_text", "text": text}],
    }
