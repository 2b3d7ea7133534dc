"""``realtime-mock client``: the reference client on the command line.

Says each ``--say`` text (and/or streams a WAV file), prints what the model answered, and
writes the reply audio to ``--out``. Exit status 0 when every turn completed, 1 when the server
refused or ended the session, 2 for bad arguments.

``--url`` takes the realtime URL (``ws://…/v1/realtime``, ``wss://…``) or the SDK base URL that
``realtime-mock serve`` prints (``http://…/v1``, ``https://…``). A local server (127.0.0.1,
localhost, ::1) needs no key: the mock accepts any, so a fake one is sent.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
import warnings
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from harness.cli import options
from mock_server.protocol.events import Dialect

DEFAULT_URL = "ws://127.0.0.1:8765/v1/realtime"
LOCAL_HOSTS = frozenset({"127.0.0.1", "localhost", "::1"})
FAKE_KEY = "sk-realtime-mock-local"
_WS_SCHEMES = {"http": "ws", "https": "wss", "ws": "ws", "wss": "wss"}


def realtime_url(url: str) -> str:
    """The ``ws(s)://…/realtime`` URL for a realtime URL or an SDK base URL.

    >>> realtime_url("http://127.0.0.1:8765/v1")
    'ws://127.0.0.1:8765/v1/realtime'
    >>> realtime_url("https://mock.example:9443/team-a/v1/")
    'wss://mock.example:9443/team-a/v1/realtime'
    >>> realtime_url("ws://127.0.0.1:8765/v1/realtime?intent=transcription")
    'ws://127.0.0.1:8765/v1/realtime?intent=transcription'
    >>> realtime_url("127.0.0.1:8765")  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ValueError: --url '127.0.0.1:8765': give ws://, wss://, http:// or https://, e.g. ...
    """
    parts = urlsplit(url)
    scheme = _WS_SCHEMES.get(parts.scheme.lower())
    if scheme is None or not parts.netloc:
        raise ValueError(
            f"--url {url!r}: give ws://, wss://, http:// or https://, e.g. "
            "http://127.0.0.1:8765/v1 (what serve prints) or ws://127.0.0.1:8765/v1/realtime"
        )
    path = parts.path.rstrip("/")
    if not path.endswith("/realtime"):
        # A base URL: the SDKs add /realtime to it (and /v1 when it is only the host).
        path = f"{path}/realtime" if path else "/v1/realtime"
    return urlunsplit((scheme, parts.netloc, path, parts.query, ""))


def is_local(url: str) -> bool:
    """Whether the URL names this machine (where only the mock listens on realtime paths)."""
    return (urlsplit(url).hostname or "") in LOCAL_HOSTS


def add_parser(subparsers: Any) -> None:
    client = subparsers.add_parser(
        "client",
        help="talk to a Realtime server with the reference client",
        description="Connect with the reference client (backoff on 429/5xx, clear errors), say "
        "each --say text and/or stream a WAV file, print the answers and write the reply audio.",
        epilog="examples:\n"
        "  realtime-mock client --say 'What is the weather in Paris?'\n"
        "  realtime-mock client --audio fixtures/audio/question.wav --out reply.wav --realtime\n"
        "  realtime-mock client --dialect beta --url http://127.0.0.1:8765/v1 --say hi\n"
        "(the URL defaults to $REALTIME_MOCK_URL, then ws://127.0.0.1:8765/v1/realtime; the key "
        "to $OPENAI_API_KEY)",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    client.add_argument(
        "--url",
        default=None,
        help="the realtime URL (ws://, wss://) or the base URL serve prints (http://.../v1)",
    )
    client.add_argument(
        "--key",
        default=None,
        help="API key (default $OPENAI_API_KEY; a local URL needs none)",
    )
    client.add_argument(
        "--dialect", type=options.dialect, choices=list(Dialect), default=Dialect.GA
    )
    client.add_argument("--model", default=None)
    client.add_argument("--say", action="append", default=[], metavar="TEXT")
    client.add_argument("--audio", default=None, metavar="WAV", help="speech to stream")
    client.add_argument("--realtime", action="store_true", help="stream the WAV in real time")
    client.add_argument("--out", default=None, metavar="WAV", help="write the reply audio here")
    client.add_argument("--text-only", action="store_true", help="ask for text answers only")
    client.add_argument(
        "--transport",
        choices=["websocket", "webrtc"],
        default="websocket",
        help="webrtc: POST an SDP offer to the URL's /v1/realtime/calls, events on the "
        "oai-events data channel, --audio on the microphone track (in real time); the "
        "reply's audio plays on the remote track, so --out gets none (default: websocket)",
    )


def run(args: argparse.Namespace) -> int:
    return asyncio.run(
        client_main(
            args.url,
            args.key,
            args.dialect,
            args.model,
            args.say,
            args.audio,
            args.realtime,
            args.out,
            args.text_only,
            args.transport,
        )
    )


async def client_main(
    url: str | None,
    key: str | None,
    dialect: Dialect | str,
    model: str | None,
    says: list[str],
    wav: str | None,
    realtime: bool,
    out: str | None,
    text_only: bool,
    transport: str = "websocket",
) -> int:
    # Loaded when the command runs, not to build the CLI's parser (every command pays for that).
    from harness.client import (
        AuthenticationError,
        ClientConfig,
        ClientError,
        HandshakeRefused,
        RealtimeClient,
        Turn,
    )
    from mock_server import audio

    try:
        url = realtime_url(url or os.environ.get("REALTIME_MOCK_URL") or DEFAULT_URL)
    except ValueError as exc:
        print(f"realtime-mock client: {exc}", file=sys.stderr)
        return 2
    key = key or os.environ.get("OPENAI_API_KEY") or (FAKE_KEY if is_local(url) else None)
    if not key:
        print(
            f"realtime-mock client: no API key for {url}: pass --key or set OPENAI_API_KEY "
            "(only a local URL, 127.0.0.1/localhost/::1, needs none)",
            file=sys.stderr,
        )
        return 2
    if not says and not wav:
        print(
            "realtime-mock client: nothing to do: give --say TEXT and/or --audio FILE.wav",
            file=sys.stderr,
        )
        return 2
    pcm = b""
    if wav:
        try:
            with warnings.catch_warnings(record=True) as caught:
                warnings.simplefilter("always")
                pcm = audio.load_wav(wav).tobytes()
        except (OSError, RuntimeError) as exc:
            print(
                f"realtime-mock client: cannot read {wav}: {exc} (give a WAV file; the API "
                "takes 24 kHz 16-bit mono PCM, other rates are resampled)",
                file=sys.stderr,
            )
            return 2
        for warning in caught:
            print(f"realtime-mock client: warning: {warning.message}", file=sys.stderr)
    modality = "text" if text_only else "audio"
    dialect = Dialect(dialect)
    config = ClientConfig(
        url=url,
        api_key=key,
        model=model or ("gpt-realtime" if dialect is Dialect.GA else "gpt-4o-realtime-preview"),
        dialect=dialect,
        session={
            "output_modalities": [modality],
            # So that the answer can say what was heard (the mock recognises its fixtures).
            "audio": {"input": {"transcription": {"model": "gpt-4o-transcribe"}}},
        },
        transport=transport,
    )
    reply = bytearray()
    try:
        async with RealtimeClient(config) as client:
            turns: list[Turn] = []
            for text in says:
                print(f"you:   {text}")
                turns.append(await client.say(text))
                print(f"model: {turns[-1].text}")
            if pcm:
                print(f"you:   <{wav}, {len(pcm) / 48000:.1f} s>")
                await client.stream_audio(pcm + bytes(48 * 1000), realtime=realtime)
                turns.append(await client.read_response())
                print(f"model: {turns[-1].text}")
            for turn in turns:
                reply.extend(turn.audio)
    except (AuthenticationError, HandshakeRefused, ClientError) as error:
        print(f"realtime-mock client: {error}", file=sys.stderr)
        return 1
    except OSError as error:
        print(f"realtime-mock client: cannot connect to {url}: {error}", file=sys.stderr)
        return 1
    if out and reply:
        audio.write_wav(Path(out), bytes(reply))
        print(f"reply audio ({len(reply) / 48000:.1f} s) written to {out}")
    return 0
