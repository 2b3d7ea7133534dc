"""The server's frames, byte for byte, for a fixed conversation in each dialect.

The per-event path (the pump, the outbox, the encoder, validation) is optimised for speed; what
it sends must not change. A seeded session over a real socket answers a text turn, an audio
reply, a forced function call and its output; every server frame's text must equal the
recording in ``data/wire_<dialect>.txt`` (made before the optimisations), in the same order: each
line a frame's type, size and SHA-256 (the audio deltas make the texts themselves 400 kB). Only
values taken from the wall clock (``expires_at``, ``created_at``) are masked. To re-record after a
deliberate protocol change: ``python -m tests.mock_server.test_wire_bytes``.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import re
import sys
from pathlib import Path
from typing import Any

import pytest
from websockets.asyncio.client import ClientConnection

from mock_server.protocol.events import Dialect
from tests.helpers import KEY, MODEL_QUERY, USER_HELLO, WAIT, WEATHER_TOOL, connected, serving

DATA = Path(__file__).parent / "data"
# Wall-clock seconds: the only bytes that differ from run to run.
_CLOCK_FIELDS = re.compile(r'"(expires_at|created_at)":\d+')


def _masked(text: str) -> str:
    return _CLOCK_FIELDS.sub(lambda m: f'"{m.group(1)}":0', text)


def _turns(dialect: Dialect) -> list[dict[str, Any]]:
    ga = dialect is Dialect.GA
    text_only = {"output_modalities": ["text"]} if ga else {"modalities": ["text"]}
    tools: dict[str, Any] = {"tools": [WEATHER_TOOL], "tool_choice": "required"}
    if ga:
        tools["type"] = "realtime"
    return [
        {"type": "conversation.item.create", "item": USER_HELLO, "event_id": "c1"},
        {"type": "response.create", "response": text_only, "event_id": "c2"},
        {"type": "response.create", "event_id": "c3"},  # the session's default: audio
        {"type": "session.update", "session": tools, "event_id": "c4"},
        {"type": "response.create", "event_id": "c5"},  # a forced call
    ]


async def _recv_text(ws: ClientConnection) -> str:
    return str(await asyncio.wait_for(ws.recv(), WAIT))


async def _record(dialect: Dialect) -> list[str]:
    """Every server frame of the fixed conversation, as sent."""
    headers = dict(KEY)
    if dialect is Dialect.BETA:
        headers["OpenAI-Beta"] = "realtime=v1"
    frames: list[str] = []

    async def until(type_: str) -> dict[str, Any]:
        while True:
            text = await _recv_text(ws)
            frames.append(text)
            event: dict[str, Any] = json.loads(text)
            if event["type"] == type_:
                return event

    async with serving() as server:
        url = f"{server.ws_url}{MODEL_QUERY}"
        async with connected(url, headers=headers, opened=False) as ws:
            await until("session.created")
            if dialect is Dialect.BETA:
                await until("conversation.created")
            for event in _turns(dialect):
                await ws.send(json.dumps(event))
                if event["type"] == "conversation.item.create":
                    await until(
                        "conversation.item.created"
                        if dialect is Dialect.BETA
                        else "conversation.item.done"
                    )
                elif event["type"] == "session.update":
                    await until("session.updated")
                else:
                    done = await until("response.done")
            # The call's output, and the reply that reads it.
            call = next(o for o in done["response"]["output"] if o["type"] == "function_call")
            output = {"type": "function_call_output", "call_id": call["call_id"], "output": "9C"}
            await ws.send(json.dumps({"type": "session.update", "session": _auto(dialect)}))
            await until("session.updated")
            await ws.send(json.dumps({"type": "conversation.item.create", "item": output}))
            await ws.send(json.dumps({"type": "response.create"}))
            await until("response.done")
    return [_masked(text) for text in frames]


def _auto(dialect: Dialect) -> dict[str, Any]:
    fields: dict[str, Any] = {"tool_choice": "auto"}
    if dialect is Dialect.GA:
        fields["type"] = "realtime"
    return fields


def _recording(dialect: Dialect) -> Path:
    return DATA / f"wire_{dialect.value}.txt"


def _fingerprint(text: str) -> str:
    """A frame as the recording holds it: its type, its size and its bytes' hash."""
    data = text.encode("utf-8")
    return f"{json.loads(text)['type']} {len(data)} {hashlib.sha256(data).hexdigest()}"


@pytest.mark.parametrize("dialect", [Dialect.GA, Dialect.BETA])
async def test_server_frames_are_the_recorded_bytes(dialect: Dialect) -> None:
    recorded = _recording(dialect).read_text(encoding="utf-8").splitlines()
    sent = [_fingerprint(text) for text in await _record(dialect)]
    # The order first (the types alone), then each frame's bytes.
    assert [line.split()[0] for line in sent] == [line.split()[0] for line in recorded]
    for number, (now, then) in enumerate(zip(sent, recorded, strict=True)):
        assert now == then, f"frame {number} changed: {now} (recorded: {then})"


if __name__ == "__main__":  # re-record (only after a deliberate change of the protocol)
    for which in Dialect:
        lines = [_fingerprint(text) for text in asyncio.run(_record(which))]
        _recording(which).write_text("".join(f"{line}\n" for line in lines), encoding="utf-8")
        print(f"recorded {_recording(which)}", file=sys.stderr)
