"""The reference client through the scenario library: one driver a scenario.

Each driver is what a voice agent built on :class:`~harness.client.RealtimeClient` does in the
situation the scenario sets up (say something, stream a fixture, call tools, cancel, talk over
the answer, give up on a refusal). ``realtime-mock demo`` plays them all and prints the
verdicts; the test suite plays them in both dialects, and plays deliberately broken variants of
the client (no backoff, no replay, a wrong ``call_id``) to show that the verdicts catch them.
"""

from __future__ import annotations

import asyncio
import base64
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from harness.client import (
    AuthenticationError,
    Backoff,
    ClientConfig,
    HandshakeRefused,
    RealtimeClient,
    SessionError,
    Turn,
)
from mock_server import audio, resources
from mock_server.scenario.loader import load_scenario, resolve_scenario
from mock_server.scenario.served import ServedScenario
from mock_server.scenario.verdict import ScenarioVerdict
from mock_server.server import Connection, MockServer

FIXTURES = resources.AUDIO
WAIT_S = 15.0
TOOLS: dict[str, Callable[[dict[str, Any]], Any]] = {
    "get_weather": lambda args: {"city": args.get("city"), "sky": "sunny", "celsius": 22},
    "get_forecast": lambda args: {"city": args.get("city"), "days": args.get("days", 1)},
}


@dataclass
class Flaws:
    """Deliberate mistakes, to show that the verdicts catch them."""

    no_backoff: bool = False
    no_replay: bool = False
    wrong_call_id: bool = False


@dataclass
class Context:
    url: str
    dialect: str
    flaws: Flaws = field(default_factory=Flaws)
    out_dir: Path | None = None
    scenario: str = "reply"
    audio_written: list[Path] = field(default_factory=list)
    # The server's connections once the scenario has been played (their transcripts).
    connections: list[Connection] = field(default_factory=list)

    def config(self, modalities: str = "text", **kwargs: Any) -> ClientConfig:
        model = "gpt-realtime" if self.dialect == "ga" else "gpt-4o-realtime-preview"
        kwargs.setdefault("session", {"output_modalities": [modalities]})
        config = ClientConfig(
            url=self.url,
            api_key=kwargs.pop("api_key", "sk-test"),
            model=model,
            dialect=self.dialect,
            timeout_s=WAIT_S,
            tools=dict(TOOLS),
            **kwargs,
        )
        if self.flaws.no_backoff:
            config.backoff = _NoBackoff()
        return config

    def client(self, modalities: str = "text", **kwargs: Any) -> RealtimeClient:
        client = RealtimeClient(self.config(modalities, **kwargs))
        if self.flaws.wrong_call_id:
            _break_call_ids(client)
        return client

    def keep_audio(self, turn: Turn) -> None:
        """Write a reply's audio as ``<scenario>.wav`` (``<scenario>_2.wav`` for a second)."""
        if self.out_dir is not None and turn.audio:
            self.out_dir.mkdir(parents=True, exist_ok=True)
            n = len([p for p in self.audio_written if p.stem.startswith(self.scenario)])
            path = self.out_dir / (f"{self.scenario}_{n + 1}.wav" if n else f"{self.scenario}.wav")
            audio.write_wav(path, bytes(turn.audio))
            self.audio_written.append(path)


class _NoBackoff(Backoff):
    def delay(self, attempt: int, retry_after: float | None = None) -> float:
        return 0.0


def _break_call_ids(client: RealtimeClient) -> None:
    original = client.add_item

    async def add_item(item: dict[str, Any]) -> None:
        if item.get("type") == "function_call_output":
            item = {**item, "call_id": "call_made_up"}
        await original(item)

    client.add_item = add_item  # type: ignore[method-assign]


def fixture(name: str) -> bytes:
    return audio.load_wav(FIXTURES / f"{name}.wav").tobytes()


# ---- drivers ------------------------------------------------------------------------------------


async def talk(ctx: Context) -> None:
    async with ctx.client() as client:
        await client.say("What's the weather in Paris?")


async def talk_twice(ctx: Context) -> None:
    async with ctx.client() as client:
        await client.say("Hello")
        await client.say("And tomorrow?")


def mcp_server(label: str, require_approval: str) -> dict[str, Any]:
    return {
        "type": "mcp",
        "server_label": label,
        "server_url": f"https://{label}.example.com/mcp",
        "require_approval": require_approval,
    }


async def talk_with_mcp(ctx: Context, server: dict[str, Any], text: str) -> None:
    """A session with an MCP server in its tools; the client approves what it is asked."""
    async with ctx.client(session={"output_modalities": ["text"], "tools": [server]}) as client:
        await client.say(text)


async def refused(ctx: Context, **kwargs: Any) -> None:
    try:
        async with ctx.client(**kwargs) as client:
            await client.say("Hello")
    except (AuthenticationError, HandshakeRefused, SessionError) as error:
        print(f"    the client reports: {error}")


async def unknown_model(ctx: Context) -> None:
    await refused(ctx)


async def speak(ctx: Context, *, fixture_name: str = "question", turns: int = 1) -> None:
    async with ctx.client("audio", session={"output_modalities": ["audio"]}) as client:
        await client.stream_audio(fixture(fixture_name) + bytes(48 * 1200))
        for _ in range(turns):
            turn = await client.read_response()
            ctx.keep_audio(turn)


async def push_to_talk(ctx: Context) -> None:
    session = {"output_modalities": ["audio"], "audio": {"input": {"turn_detection": None}}}
    async with ctx.client("audio", session=session) as client:
        await client.stream_audio(fixture("question"))  # commits: VAD is off
        turn = await client.respond()
        ctx.keep_audio(turn)


async def mid_session_error(ctx: Context) -> None:
    async with ctx.client() as client:
        await client.say("One")
        await client.say("Two")  # the server's error in between is noted, not fatal


async def session_expired(ctx: Context) -> None:
    async with ctx.client() as client:
        await client.say("What's the weather in Paris?")
        assert client.ws is not None
        await asyncio.wait_for(client.ws.wait_closed(), WAIT_S)
        if ctx.flaws.no_replay:
            client.history.clear()
        await client.say("And tomorrow?")


async def reconnect(ctx: Context) -> None:
    async with ctx.client() as client:
        for turn in range(1, 6):
            await client.say(f"Turn {turn}.")
            if turn < 5:  # the server ends this connection after each answer
                assert client.ws is not None
                await asyncio.wait_for(client.ws.wait_closed(), WAIT_S)
                if ctx.flaws.no_replay:
                    client.history.clear()
                    await client.say("Turn 2.")  # on a new session, with nothing replayed
                    return


async def barge_in(ctx: Context) -> None:
    async with ctx.client("audio", session={"output_modalities": ["audio"]}) as client:
        await client.send({"type": "response.create"})
        # The user listens once the answer plays (after the model's latency), for a second and
        # a half, then talks over it; server VAD hears it while the reply streams (in real
        # time, so that what was played before the barge-in, the demo's barge_in.wav, is the
        # answer's first words).
        await client.wait_for("response.output_audio.delta", "response.audio.delta", keep=True)
        listening = bytes(48 * 1500)
        await client.stream_audio(listening + fixture("question"), chunk_ms=100, realtime=True)
        turn = await client.read_response()
        ctx.keep_audio(turn)


async def barge_in_before_audio(ctx: Context) -> None:
    async with ctx.client("audio", session={"output_modalities": ["audio"]}) as client:
        await client.send({"type": "response.create"})
        await client.wait_for("response.content_part.added")  # the answer's audio is late
        # The user talks; server VAD cancels the answer before any of its audio came, and
        # the client (which truncates only audio it received) sends no truncate.
        await client.stream_audio(fixture("question"), chunk_ms=100)
        turn = await client.read_response()
        assert not turn.audio


async def truncate_past_audio(ctx: Context) -> None:
    async with ctx.client("audio", session={"output_modalities": ["audio"]}) as client:
        await client.send({"type": "response.create"})
        received = 0
        item_id = ""
        while received < 1000:  # ms: the user stops the answer about a second in
            delta = await client.wait_for("response.output_audio.delta", "response.audio.delta")
            received += len(base64.b64decode(delta["delta"])) // 48
            item_id = delta["item_id"]
        await client.send(
            {
                "type": "conversation.item.truncate",
                "item_id": item_id,
                "content_index": 0,
                "audio_end_ms": received,  # never more than what came
            }
        )
        await client.read_response()


async def cancel(ctx: Context) -> None:
    async with ctx.client() as client:
        await client.send({"type": "response.create"})
        await client.wait_for("response.output_text.delta", "response.text.delta")
        await client.cancel()
        await client.read_response()


Driver = Callable[[Context], Awaitable[None]]

DRIVERS: dict[str, Driver] = {
    "text_turn": talk,
    "audio_vad": speak,
    "manual_commit": push_to_talk,
    "function_call": talk,
    "function_call_sequential": talk,
    "function_call_parallel": talk,
    "missing_key": lambda ctx: refused(ctx, api_key=""),
    "key_in_query": talk,  # the reference client never puts the key in the URL
    "invalid_key": lambda ctx: refused(ctx, api_key="sk-wrong"),
    "beta_only": talk,
    "beta_retired": talk,
    "unknown_model": unknown_model,
    "rate_limit_then_success": talk,
    "mid_session_error": mid_session_error,
    "session_expired": session_expired,
    "vad_cut_off": lambda ctx: speak(ctx, fixture_name="pause_600ms", turns=2),
    "vad_not_cut": lambda ctx: speak(ctx, fixture_name="pause_600ms"),
    "input_text_for_audio": push_to_talk,
    "text_only_session": talk,
    "barge_in": barge_in,
    "reconnect": reconnect,
    "barge_in_before_audio": barge_in_before_audio,
    "truncate_past_audio": truncate_past_audio,
    "response_cancel": cancel,
    "response_while_active": talk_twice,
    "mcp_call": lambda ctx: talk_with_mcp(
        ctx, mcp_server("docs", "never"), "How long can a session last?"
    ),
    "mcp_approval": lambda ctx: talk_with_mcp(
        ctx, mcp_server("calendar", "always"), "What's on my calendar today?"
    ),
}
ONLY = {"beta_only": "beta", "beta_retired": "ga", "mcp_call": "ga", "mcp_approval": "ga"}


def dialects(name: str) -> list[str]:
    """The dialects a library scenario runs in."""
    return [ONLY[name]] if name in ONLY else ["ga", "beta"]


async def play(
    name: str,
    dialect: str,
    flaws: Flaws | None = None,
    out_dir: Path | None = None,
    *,
    keep_input_audio: bool = False,
) -> tuple[ScenarioVerdict, Context]:
    """Serve library scenario ``name``, run its driver, return the verdict (the context holds
    the connections; with ``keep_input_audio`` their transcripts keep the audio sent)."""
    scenario = ServedScenario(load_scenario(resolve_scenario(name)))
    mount = scenario.mount()
    mount.keep_input_audio = keep_input_audio
    async with MockServer(port=0, default_mount=mount) as server:
        ctx = Context(server.ws_url, dialect, flaws or Flaws(), out_dir, name)
        try:
            await asyncio.wait_for(DRIVERS[name](ctx), 60)
        except (SessionError, HandshakeRefused, AuthenticationError, TimeoutError) as error:
            print(f"    {name}: the client stopped: {error!r}")
        await server.wait_for_sessions(at_most=0)
        ctx.connections = list(server.connections)
    return scenario.verdict(), ctx


def verdict_table(rows: list[tuple[str, str, ScenarioVerdict, float]]) -> str:
    width = max(len(name) for name, _, _, _ in rows)
    lines = [f"{'scenario'.ljust(width)}  dialect  verdict  time    findings"]
    lines.append(f"{'-' * width}  -------  -------  ------  --------")
    for name, dialect, verdict, seconds in rows:
        finding = verdict.findings[0][:70] if verdict.findings else ""
        mark = "pass" if verdict.ok else "FAIL"
        lines.append(f"{name.ljust(width)}  {dialect:7}  {mark:7}  {seconds:5.2f}s  {finding}")
    passed = sum(v.ok for _, _, v, _ in rows)
    lines.append(f"\n{passed} passed, {len(rows) - passed} failed")
    return "\n".join(lines)


__all__ = ["DRIVERS", "Flaws", "dialects", "play", "verdict_table"]
