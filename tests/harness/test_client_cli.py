"""``realtime-mock client --url``: the URL forms it takes; a local mock needs no key."""

from __future__ import annotations

import pytest

from harness.cli.client import client_main, is_local, realtime_url
from mock_server.server import Mount
from tests.helpers import serving


@pytest.mark.parametrize(
    ("given", "used"),
    [
        # what `serve` prints for the SDKs (OPENAI_BASE_URL), with or without a trailing slash
        ("http://127.0.0.1:8765/v1", "ws://127.0.0.1:8765/v1/realtime"),
        ("http://127.0.0.1:8765/v1/", "ws://127.0.0.1:8765/v1/realtime"),
        ("https://127.0.0.1:8766/v1", "wss://127.0.0.1:8766/v1/realtime"),
        # a mount's prefix, as the pytest fixture hands out
        ("http://localhost:9000/t-3/v1", "ws://localhost:9000/t-3/v1/realtime"),
        # only the host: the mock's realtime path
        ("http://127.0.0.1:8765", "ws://127.0.0.1:8765/v1/realtime"),
        # realtime URLs stay as they are, query included
        ("ws://127.0.0.1:8765/v1/realtime", "ws://127.0.0.1:8765/v1/realtime"),
        ("wss://[::1]:8766/v1/realtime?intent=transcription", "wss://[::1]:8766/v1/realtime?intent=transcription"),
        ("WS://127.0.0.1:8765/openai/realtime", "ws://127.0.0.1:8765/openai/realtime"),
    ],
)  # fmt: skip
def test_realtime_url_accepts_base_and_realtime_urls(given: str, used: str) -> None:
    assert realtime_url(given) == used


@pytest.mark.parametrize("bad", ["127.0.0.1:8765", "ftp://127.0.0.1/v1", "http:///v1", ""])
def test_a_url_of_no_known_form_says_which_forms_are(bad: str) -> None:
    with pytest.raises(ValueError, match=r"give ws://, wss://, http:// or https://"):
        realtime_url(bad)


@pytest.mark.parametrize(
    ("url", "local"),
    [
        ("ws://127.0.0.1:1/v1/realtime", True),
        ("ws://localhost:1/v1/realtime", True),
        ("ws://[::1]:1/v1/realtime", True),
        ("wss://api.openai.com/v1/realtime", False),
        ("ws://127.0.0.1.example.com/v1/realtime", False),
    ],
)
def test_only_this_machine_is_local(url: str, local: bool) -> None:
    assert is_local(url) is local


async def _talk(url: str) -> int:
    return await client_main(url, None, "ga", None, ["Hello"], None, False, None, True)


async def test_the_base_url_serve_prints_works_without_a_key(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    async with serving(Mount(pace=0.0)) as server:
        assert await _talk(server.base_url) == 0
        (connection,) = server.connections
        assert connection.transcript.handshake is not None
    out = capsys.readouterr().out
    assert 'model: You said: "Hello".' in out


async def test_a_remote_url_without_a_key_is_refused_before_connecting(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    assert await _talk("https://api.example.invalid/v1") == 2
    err = capsys.readouterr().err
    assert "no API key for wss://api.example.invalid/v1/realtime" in err


async def test_a_bad_url_is_exit_2_with_the_forms(capsys: pytest.CaptureFixture[str]) -> None:
    assert await _talk("localhost:8765") == 2
    assert "give ws://, wss://, http:// or https://" in capsys.readouterr().err
