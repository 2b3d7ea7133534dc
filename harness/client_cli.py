"""``realtime-mock client``: the reference client on the command line.

Says each ``--say`` text (and/or streams a WAV file), prints what the model answered, and
writes the reply audio to ``--out``. Exit status 0 when every turn completed, 1 when the server
refused or ended the session, 2 for bad arguments.
"""

from __future__ import annotations

import os
import sys
import warnings
from pathlib import Path

from harness.client import (
    AuthenticationError,
    ClientConfig,
    ClientError,
    HandshakeRefused,
    RealtimeClient,
    Turn,
)
from mock_server import audio


async def client_main(
    url: str | None,
    key: str | None,
    dialect: str,
    model: str | None,
    says: list[str],
    wav: str | None,
    realtime: bool,
    out: str | None,
    text_only: bool,
) -> int:
    url = url or os.environ.get("REALTIME_MOCK_URL") or "ws://127.0.0.1:8765/v1/realtime"
    key = key or os.environ.get("OPENAI_API_KEY")
    if not key:
        print("realtime-mock client: no API key: pass --key or set OPENAI_API_KEY", file=sys.stderr)
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
    config = ClientConfig(
        url=url,
        api_key=key,
        model=model or ("gpt-realtime" if dialect == "ga" else "gpt-4o-realtime-preview"),
        dialect=dialect,  # type: ignore[arg-type]
        session={
            "output_modalities": [modality],
            # So that the answer can say what was heard (the mock recognises its fixtures).
            "audio": {"input": {"transcription": {"model": "gpt-4o-transcribe"}}},
        },
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
