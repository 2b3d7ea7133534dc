"""Ephemeral keys with the official openai Python SDK, unchanged: a backend creates a client
secret (GA) or a beta-era session token, and a client connects with it."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from typing import Any

import openai
import pytest
from openai import AsyncOpenAI
from openai.types.beta.realtime import SessionCreateResponse, TranscriptionSession
from openai.types.realtime import ClientSecretCreateResponse
from openai.types.realtime.realtime_session_create_response import RealtimeSessionCreateResponse
from websockets.asyncio.client import connect
from websockets.exceptions import InvalidStatus

from mock_server.scenario.loader import load_scenario_text
from mock_server.scenario.served import ServedScenario
from mock_server.server import MockServer, Mount
from tests.helpers import WAIT, recv, serving


@pytest.fixture
async def server() -> AsyncIterator[MockServer]:
    async with serving(Mount(pace=0.0, seed="ek")) as running:
        yield running


def backend(server: MockServer, key: str = "sk-backend") -> AsyncOpenAI:
    return AsyncOpenAI(api_key=key, base_url=server.base_url)


def beta_client(server: MockServer, key: str) -> AsyncOpenAI:
    ws_base = server.base_url.replace("http://", "ws://")
    return AsyncOpenAI(api_key=key, base_url=server.base_url, websocket_base_url=ws_base)


async def first_event(connection: Any) -> Any:
    return await connection.recv()


async def test_a_client_secret_starts_a_session_with_its_baked_configuration(
    server: MockServer,
) -> None:
    secret = await backend(server).realtime.client_secrets.create(
        session={"type": "realtime", "instructions": "Be brief.", "output_modalities": ["text"]},
        expires_after={"anchor": "created_at", "seconds": 600},
    )
    assert isinstance(secret, ClientSecretCreateResponse)
    assert secret.value.startswith("ek_") and secret.expires_at > time.time() + 590
    assert secret.session.type == "realtime" and secret.session.instructions == "Be brief."
    # The wire shape is the SDK's model, with nothing it does not know.
    raw = secret.model_dump(exclude_unset=True)
    ClientSecretCreateResponse.model_validate(raw)
    assert set(raw["session"]) <= set(RealtimeSessionCreateResponse.model_fields)

    client = AsyncOpenAI(api_key=secret.value, base_url=server.base_url)
    async with client.realtime.connect(model="gpt-realtime") as conn:
        created = await first_event(conn)
    assert created.type == "session.created"
    assert created.session.instructions == "Be brief."
    assert created.session.output_modalities == ["text"]
    assert created.session.id != secret.session.id  # each session its own


async def test_a_client_secret_without_a_model_in_the_url_uses_the_secrets_model(
    server: MockServer,
) -> None:
    secret = await backend(server).realtime.client_secrets.create(
        session={"type": "realtime", "model": "gpt-realtime-mini"}
    )
    url = server.ws_url  # no ?model=: the key says which
    async with connect(url, additional_headers={"Authorization": f"Bearer {secret.value}"}) as ws:
        created = await recv(ws)
    assert created["session"]["model"] == "gpt-realtime-mini"


async def test_a_browser_connects_with_the_secret_as_its_subprotocol(server: MockServer) -> None:
    secret = await backend(server).realtime.client_secrets.create(
        session={"type": "realtime", "instructions": "From the browser."}
    )
    offered = ["realtime", f"openai-insecure-api-key.{secret.value}"]
    async with connect(
        server.ws_url + "?model=gpt-realtime",
        subprotocols=offered,
        open_timeout=WAIT,  # type: ignore[arg-type]
    ) as ws:
        created = await recv(ws)
        assert ws.subprotocol == "realtime"
    assert created["session"]["instructions"] == "From the browser."


async def test_an_expired_secret_is_refused_with_401(server: MockServer) -> None:
    secret = await backend(server).realtime.client_secrets.create(
        session={"type": "realtime"}, expires_after={"anchor": "created_at", "seconds": 10}
    )
    server.ephemeral_keys.clock = lambda: time.time() + 11
    with pytest.raises(InvalidStatus) as refused:
        await connect(
            server.ws_url + "?model=gpt-realtime",
            additional_headers={"Authorization": f"Bearer {secret.value}"},
            open_timeout=WAIT,
        )
    assert refused.value.response.status_code == 401
    body = refused.value.response.body or b""
    assert b"invalid_api_key" in body and b"expired" in body
    assert secret.value.encode() not in body  # masked


@pytest.mark.parametrize("key", ["ek_not_issued_here_0123456789", "ek_"])
async def test_an_unknown_ephemeral_key_is_refused_with_401(server: MockServer, key: str) -> None:
    with pytest.raises(InvalidStatus) as refused:
        await connect(
            server.ws_url + "?model=gpt-realtime",
            additional_headers={"Authorization": f"Bearer {key}"},
            open_timeout=WAIT,
        )
    assert refused.value.response.status_code == 401


async def test_a_secret_is_valid_only_under_the_mount_it_was_issued_for(
    server: MockServer,
) -> None:
    other = server.mount(Mount(prefix="/t/other", pace=0.0))
    secret = await backend(server).realtime.client_secrets.create(session={"type": "realtime"})
    with pytest.raises(InvalidStatus) as refused:
        await connect(
            server.url_for(other.prefix) + "?model=gpt-realtime",
            additional_headers={"Authorization": f"Bearer {secret.value}"},
            open_timeout=WAIT,
        )
    assert refused.value.response.status_code == 401


async def test_the_backend_needs_an_accepted_key_and_the_secret_needs_none_of_them() -> None:
    async with serving(Mount(pace=0.0, api_keys=frozenset({"sk-real"}))) as server:
        with pytest.raises(openai.AuthenticationError):
            await backend(server, "sk-wrong").realtime.client_secrets.create(
                session={"type": "realtime"}
            )
        secret = await backend(server, "sk-real").realtime.client_secrets.create(
            session={"type": "realtime"}
        )
        with pytest.raises(openai.AuthenticationError, match="ephemeral key cannot create"):
            await backend(server, secret.value).realtime.client_secrets.create()
        async with AsyncOpenAI(api_key=secret.value, base_url=server.base_url).realtime.connect(
            model="gpt-realtime"
        ) as conn:
            assert (await first_event(conn)).type == "session.created"


async def test_a_bad_secret_request_is_a_400_that_names_the_parameter(server: MockServer) -> None:
    with pytest.raises(openai.BadRequestError) as refused:
        await backend(server).realtime.client_secrets.create(
            session={"type": "realtime"}, expires_after={"anchor": "created_at", "seconds": 5}
        )
    assert refused.value.body["param"] == "expires_after.seconds"  # type: ignore[index]
    with pytest.raises(openai.BadRequestError) as refused:
        await backend(server).realtime.client_secrets.create(
            session={"type": "realtime", "output_modalities": ["smell"]}  # type: ignore[list-item]
        )
    assert "output_modalities" in str(refused.value.body["param"])  # type: ignore[index]


async def test_a_transcription_secret_starts_a_transcription_session(server: MockServer) -> None:
    secret = await backend(server).realtime.client_secrets.create(
        session={
            "type": "transcription",
            "audio": {"input": {"transcription": {"model": "gpt-4o-mini-transcribe"}}},
        }
    )
    assert secret.session.type == "transcription"
    async with connect(
        server.ws_url, additional_headers={"Authorization": f"Bearer {secret.value}"}
    ) as ws:
        created = await recv(ws)
    assert created["session"]["type"] == "transcription"
    assert created["session"]["audio"]["input"]["transcription"]["model"] == (
        "gpt-4o-mini-transcribe"
    )


# ---- beta --------------------------------------------------------------------------------------


async def test_a_beta_session_token_works_for_a_beta_client(server: MockServer) -> None:
    token = await backend(server).beta.realtime.sessions.create(
        model="gpt-4o-realtime-preview", modalities=["text"], instructions="Beta, briefly."
    )
    assert isinstance(token, SessionCreateResponse)
    SessionCreateResponse.model_validate(token.model_dump(exclude_unset=True))
    assert token.client_secret.value.startswith("ek_")
    assert token.client_secret.expires_at <= time.time() + 61
    assert token.instructions == "Beta, briefly."
    client = beta_client(server, token.client_secret.value)
    async with client.beta.realtime.connect(model="gpt-4o-realtime-preview") as conn:
        created = await first_event(conn)
    assert created.type == "session.created"
    assert created.session.instructions == "Beta, briefly."
    assert created.session.modalities == ["text"]


async def test_a_beta_transcription_session_token(server: MockServer) -> None:
    token = await backend(server).beta.realtime.transcription_sessions.create(
        input_audio_transcription={"model": "gpt-4o-transcribe", "language": "en"}
    )
    assert isinstance(token, TranscriptionSession)
    TranscriptionSession.model_validate(token.model_dump(exclude_unset=True))
    assert token.client_secret.value.startswith("ek_")
    assert token.input_audio_transcription is not None
    assert token.input_audio_transcription.language == "en"
    async with connect(
        server.ws_url + "?intent=transcription",
        additional_headers={"Authorization": f"Bearer {token.client_secret.value}"},
    ) as ws:
        created = await recv(ws)
    assert created["session"]["type"] == "transcription"
    assert created["session"]["audio"]["input"]["transcription"]["language"] == "en"


# ---- scripted by a scenario -----------------------------------------------------------------

SCRIPTED = """
name: secrets
description: the first request for a client secret is rate limited, the second answered late
client_secrets:
  - {status: 429, retry_after: 0.01, code: rate_limit_exceeded}
  - {delay: 20ms}
client_secret_requests: 2
"""


async def test_a_scenario_scripts_the_client_secrets_endpoint_and_counts_requests() -> None:
    play = ServedScenario(load_scenario_text(SCRIPTED))
    async with serving(play.mount()) as server:
        # The SDK retries the 429 after its retry-after, as a correct backend does.
        secret = await backend(server).realtime.client_secrets.create(
            session={"type": "realtime", "instructions": "Scripted."}
        )
        assert server.traffic().rest_requests == 2
        async with connect(
            server.ws_url, additional_headers={"Authorization": f"Bearer {secret.value}"}
        ) as ws:
            assert (await recv(ws))["session"]["instructions"] == "Scripted."
        await server.wait_for_sessions(0)
        assert play.verdict().ok, str(play.verdict())
        # The last entry repeats: a third request is answered, and is one too many.
        await backend(server).with_options(max_retries=0).realtime.client_secrets.create()
    verdict = play.verdict()
    assert not verdict.ok
    assert "asks for 2 client secret(s) here; this one asked 3 time(s)" in str(verdict)


async def test_a_scenario_refuses_a_client_secret_for_a_key_it_does_not_accept() -> None:
    text = "name: k\ndescription: d\nclient_secrets: [{require_key: sk-right}]\n"
    play = ServedScenario(load_scenario_text(text))
    async with serving(play.mount()) as server:
        with pytest.raises(openai.AuthenticationError):
            await backend(server, "sk-wrong").realtime.client_secrets.create()
        secret = await backend(server, "sk-right").realtime.client_secrets.create()
    assert secret.value.startswith("ek_")


async def test_the_scenarios_require_key_guards_the_secret_and_the_secret_passes_it() -> None:
    text = "name: k\ndescription: d\nhandshake: {require_key: sk-right}\n"
    play = ServedScenario(load_scenario_text(text))
    async with serving(play.mount()) as server:
        with pytest.raises(openai.AuthenticationError):
            await backend(server, "sk-wrong").realtime.client_secrets.create()
        secret = await backend(server, "sk-right").realtime.client_secrets.create()
        headers = {"Authorization": f"Bearer {secret.value}"}
        async with connect(server.ws_url, additional_headers=headers) as ws:
            assert (await recv(ws))["type"] == "session.created"
