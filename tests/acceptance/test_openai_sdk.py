"""The official openai Python SDK, unchanged, against the mock: GA and beta, ws and wss.

Each dialect does a text turn, an audio-output turn (the deltas decode to PCM16 of the length the
mock streamed) and a function-call round trip driven by the canned responder (``tool_choice``
forces the tool; its arguments satisfy the tool's JSON Schema).
"""

from __future__ import annotations

import asyncio
import base64
import json
import ssl
from collections.abc import AsyncIterator
from typing import Any

import jsonschema
import pytest
from openai import AsyncOpenAI

from mock_server.server import MockServer, Mount
from tests.helpers import WAIT, WEATHER_TOOL, serving, user_message


@pytest.fixture
async def server() -> AsyncIterator[MockServer]:
    async with serving(Mount(pace=0.0, seed="sdk")) as running:
        yield running


def ga_client(server: MockServer) -> AsyncOpenAI:
    return AsyncOpenAI(api_key="sk-test", base_url=server.base_url)


def beta_client(server: MockServer) -> AsyncOpenAI:
    # The beta client always derives wss:// from base_url; websocket_base_url keeps ws://.
    ws_base = server.base_url.replace("http://", "ws://")
    return AsyncOpenAI(api_key="sk-test", base_url=server.base_url, websocket_base_url=ws_base)


async def collect_until(connection: Any, last: str) -> list[Any]:
    events: list[Any] = []

    async def run() -> None:
        async for event in connection:
            events.append(event)
            if event.type == last:
                return

    await asyncio.wait_for(run(), WAIT)
    return events


# ---- GA ---------------------------------------------------------------------------------------


async def test_ga_text_turn(server: MockServer) -> None:
    async with ga_client(server).realtime.connect(model="gpt-realtime") as conn:
        await conn.session.update(session={"type": "realtime", "output_modalities": ["text"]})
        await conn.conversation.item.create(item=user_message("Hello, mock"))
        await conn.response.create()
        events = await collect_until(conn, "response.done")
    names = [e.type for e in events]
    assert names[0] == "session.created"
    text = next(e.text for e in events if e.type == "response.output_text.done")
    assert text == 'You said: "Hello, mock".'
    assert events[-1].response.status == "completed"


async def test_ga_audio_turn_decodes_to_pcm16_of_the_streamed_length(server: MockServer) -> None:
    async with ga_client(server).realtime.connect(model="gpt-realtime") as conn:
        await conn.conversation.item.create(item=user_message("Speak"))
        await conn.response.create(response={"output_modalities": ["audio"]})
        events = await collect_until(conn, "response.done")
    pcm = b"".join(
        base64.b64decode(e.delta) for e in events if e.type == "response.output_audio.delta"
    )
    item_id = next(e.item_id for e in events if e.type == "response.output_audio.done")
    session = server.connections[-1].session
    assert session is not None
    assert pcm == session.item_audio(item_id)
    assert len(pcm) > 24000 * 2 * 0.5 and len(pcm) % 2 == 0
    transcript = next(
        e.transcript for e in events if e.type == "response.output_audio_transcript.done"
    )
    assert transcript == 'You said: "Speak".'


async def test_ga_function_call_round_trip(server: MockServer) -> None:
    async with ga_client(server).realtime.connect(model="gpt-realtime") as conn:
        await conn.session.update(
            session={
                "type": "realtime",
                "output_modalities": ["text"],
                "tools": [WEATHER_TOOL],  # type: ignore[list-item]
                "tool_choice": {"type": "function", "name": "get_weather"},
            }
        )
        await conn.conversation.item.create(item=user_message("Weather in Paris?"))
        await conn.response.create()
        events = await collect_until(conn, "response.done")
        call = next(e for e in events if e.type == "response.function_call_arguments.done")
        assert call.name == "get_weather"
        jsonschema.validate(json.loads(call.arguments), WEATHER_TOOL["parameters"])
        await conn.conversation.item.create(
            item={"type": "function_call_output", "call_id": call.call_id, "output": '{"c": 21}'}
        )
        await conn.response.create()
        answer = await collect_until(conn, "response.done")
    text = next(e.text for e in answer if e.type == "response.output_text.done")
    assert '{"c": 21}' in text


async def test_ga_error_event_reaches_the_sdk(server: MockServer) -> None:
    async with ga_client(server).realtime.connect(model="gpt-realtime") as conn:
        await conn.send({"type": "response.cancel", "event_id": "evt_sdk_1"})
        events = await collect_until(conn, "error")
    assert events[-1].error.code == "response_cancel_not_active"
    assert events[-1].error.event_id == "evt_sdk_1"


# ---- beta -------------------------------------------------------------------------------------


async def test_beta_text_turn(server: MockServer) -> None:
    async with beta_client(server).beta.realtime.connect(model="gpt-4o-realtime-preview") as conn:
        await conn.session.update(session={"modalities": ["text"]})
        await conn.conversation.item.create(item=user_message("Hi beta"))  # type: ignore[arg-type]
        await conn.response.create()
        events = await collect_until(conn, "response.done")
    assert [e.type for e in events][:2] == ["session.created", "conversation.created"]
    text = next(e.text for e in events if e.type == "response.text.done")
    assert text == 'You said: "Hi beta".'


async def test_beta_audio_turn(server: MockServer) -> None:
    async with beta_client(server).beta.realtime.connect(model="gpt-4o-realtime-preview") as conn:
        await conn.conversation.item.create(item=user_message("Speak"))  # type: ignore[arg-type]
        await conn.response.create(response={"modalities": ["text", "audio"]})
        events = await collect_until(conn, "response.done")
    pcm = b"".join(base64.b64decode(e.delta) for e in events if e.type == "response.audio.delta")
    item_id = next(e.item_id for e in events if e.type == "response.audio.done")
    session = server.connections[-1].session
    assert session is not None
    assert pcm == session.item_audio(item_id) and len(pcm) % 2 == 0 and pcm


async def test_beta_function_call_round_trip(server: MockServer) -> None:
    async with beta_client(server).beta.realtime.connect(model="gpt-4o-realtime-preview") as conn:
        await conn.session.update(
            session={
                "modalities": ["text"],
                "tools": [WEATHER_TOOL],  # type: ignore[list-item]
                "tool_choice": "required",
            }
        )
        await conn.conversation.item.create(item=user_message("Weather?"))  # type: ignore[arg-type]
        await conn.response.create()
        events = await collect_until(conn, "response.done")
        call = next(e for e in events if e.type == "response.function_call_arguments.done")
        assert (
            json.loads(call.arguments)["unit"]
            in WEATHER_TOOL["parameters"]["properties"]["unit"]["enum"]
        )
        await conn.conversation.item.create(
            item={"type": "function_call_output", "call_id": call.call_id, "output": "sunny"}
        )
        await conn.response.create()
        answer = await collect_until(conn, "response.done")
    assert "sunny" in next(e.text for e in answer if e.type == "response.text.done")


# ---- TLS --------------------------------------------------------------------------------------


async def test_ga_sdk_over_wss_trusting_the_printed_ca() -> None:
    async with serving(Mount(pace=0.0), tls=True) as server:
        assert server.https_base_url is not None and server.ca_path is not None
        context = ssl.create_default_context(cafile=str(server.ca_path))
        client = AsyncOpenAI(api_key="sk-test", base_url=server.https_base_url)
        async with client.realtime.connect(
            model="gpt-realtime", websocket_connection_options={"ssl": context}
        ) as conn:
            await conn.session.update(session={"type": "realtime", "output_modalities": ["text"]})
            await conn.response.create()
            events = await collect_until(conn, "response.done")
        assert events[0].type == "session.created"
        assert server.connections[-1].transcript.handshake is not None


async def test_beta_sdk_over_wss_with_ssl_cert_file(monkeypatch: pytest.MonkeyPatch) -> None:
    """What a user does when an SDK insists on wss://: trust the CA through SSL_CERT_FILE."""
    async with serving(Mount(pace=0.0), tls=True) as server:
        assert server.https_base_url is not None
        monkeypatch.setenv("SSL_CERT_FILE", str(server.ca_path))
        client = AsyncOpenAI(api_key="sk-test", base_url=server.https_base_url)
        async with client.beta.realtime.connect(model="gpt-4o-realtime-preview") as conn:
            await conn.session.update(session={"modalities": ["text"]})
            await conn.response.create()
            events = await collect_until(conn, "response.done")
        assert events[-1].response.status == "completed"


async def test_azure_client_legacy_path_with_its_api_key_header(server: MockServer) -> None:
    from openai import AsyncAzureOpenAI

    # The Azure client derives wss:// from its endpoint; websocket_base_url keeps ws://.
    ws_base = server.url_for(path="/openai")
    client = AsyncAzureOpenAI(
        azure_endpoint=server.url_for(scheme="http", path=""),
        api_key="azure-key",
        api_version="2025-04-01-preview",
        websocket_base_url=ws_base,
    )
    async with client.realtime.connect(model="my-deployment") as conn:
        created = await conn.recv()
    assert created.type == "session.created" and created.session.model == "my-deployment"
    handshake = server.connections[-1].transcript.handshake
    assert handshake is not None and handshake.path == "/openai/realtime"
    assert handshake.query["api-version"] == "2025-04-01-preview"


async def test_azure_v1_base_url_with_the_openai_client(server: MockServer) -> None:
    # Azure's v1 API is served to the plain OpenAI client at <resource>/openai/v1.
    client = AsyncOpenAI(
        api_key="azure-key",
        base_url=server.url_for(scheme="http", path="/openai/v1"),
        websocket_base_url=server.url_for(path="/openai/v1"),
    )
    async with client.realtime.connect(model="my-deployment") as conn:
        created = await conn.recv()
    assert created.type == "session.created" and created.session.model == "my-deployment"
    handshake = server.connections[-1].transcript.handshake
    assert handshake is not None and handshake.path == "/openai/v1/realtime"
