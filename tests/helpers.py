"""What many tests share: the bound on every wait, a key, the weather tool, a server, a client.

Import it as ``from tests.helpers import ...`` (the repository root is on pytest's path). Every
wait here is bounded by ``WAIT``; nothing sleeps to synchronise. Tests keep what is particular
to them; this module holds only what more than one test file needs.
"""

from __future__ import annotations

import asyncio
import json
import os
import shutil
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import pytest
from websockets.asyncio.client import ClientConnection, connect

from mock_server.protocol.events import Dialect
from mock_server.server import MockServer, Mount
from mock_server.session import ServerEvent, Session, SessionOptions

WAIT = 10.0
"""The bound on any single wait for the server, in seconds (generous: CI machines are slow)."""

KEY = {"Authorization": "Bearer sk-test"}
"""A key header the default mount accepts (it accepts any ``sk-`` key)."""

MODEL_QUERY = "?model=gpt-realtime"

WEATHER_TOOL: dict[str, Any] = {
    "type": "function",
    "name": "get_weather",
    "description": "Weather in a city",
    "parameters": {
        "type": "object",
        "properties": {
            "city": {"type": "string"},
            "unit": {"type": "string", "enum": ["c", "f"]},
        },
        "required": ["city", "unit"],
    },
}


def user_message(text: str) -> dict[str, Any]:
    """A user message item holding ``text``."""
    return {"type": "message", "role": "user", "content": [{"type": "input_text", "text": text}]}


def user_text(text: str) -> dict[str, Any]:
    """The ``conversation.item.create`` of a user message holding ``text``."""
    return {"type": "conversation.item.create", "item": user_message(text)}


USER_HELLO: dict[str, Any] = user_message("Hello")


# ---- over a socket -------------------------------------------------------------------------


@asynccontextmanager
async def serving(mount: Mount | None = None, **server_options: Any) -> AsyncIterator[MockServer]:
    """A started server on a free loopback port, stopped afterwards (pace 0 unless told)."""
    mount = mount if mount is not None else Mount(pace=0.0, seed=1)
    async with MockServer(port=0, default_mount=mount, **server_options) as server:
        yield server


@pytest.fixture
async def server() -> AsyncIterator[MockServer]:
    """A server with the default mount (no scenario, pace 0, seed 1); import it to use it."""
    async with serving() as running:
        yield running


@asynccontextmanager
async def connected(
    url: str, *, headers: dict[str, str] | None = None, opened: bool = True, **kwargs: Any
) -> AsyncIterator[ClientConnection]:
    """A client connection with ``KEY``; when ``opened``, ``session.created`` is already read."""
    kwargs.setdefault("open_timeout", WAIT)
    async with connect(url, additional_headers=headers or KEY, **kwargs) as ws:
        if opened:
            first = await recv(ws)
            assert first["type"] == "session.created", first
        yield ws


async def recv(ws: ClientConnection, wait: float = WAIT) -> dict[str, Any]:
    """The next server event, bounded."""
    event: dict[str, Any] = json.loads(await asyncio.wait_for(ws.recv(), wait))
    return event


async def recv_until(ws: ClientConnection, type_: str, wait: float = WAIT) -> dict[str, Any]:
    """The first server event of ``type_``, skipping others; the whole wait is bounded."""

    async def scan() -> dict[str, Any]:
        while True:
            event = await recv(ws, wait)
            if event["type"] == type_:
                return event

    return await asyncio.wait_for(scan(), wait)


async def send(ws: ClientConnection, event: dict[str, Any]) -> None:
    await ws.send(json.dumps(event))


async def until(condition: Callable[[], bool], what: str, timeout: float = WAIT) -> None:
    """Wait, bounded, for a condition the server reaches on its own (polled every 5 ms)."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not condition():
        if loop.time() > deadline:
            raise AssertionError(f"timed out waiting until {what}")
        await asyncio.sleep(0.005)


# ---- without a socket ----------------------------------------------------------------------


class SessionDriver:
    """Feeds a sans-I/O session and collects what it emits, on a clock the test moves."""

    def __init__(self, dialect: Dialect = Dialect.GA, **options: Any) -> None:
        options.setdefault("pace", 0.0)
        options.setdefault("seed", 7)
        self.session = Session(SessionOptions(dialect=dialect, **options))
        self.now = 0.0
        self.session.open(self.now)
        self.opening = self.take()

    def send(self, event: dict[str, Any] | str | bytes) -> list[dict[str, Any]]:
        frame = event if isinstance(event, str | bytes) else json.dumps(event)
        self.session.receive(frame, self.now)
        return self.take()

    def take(self) -> list[dict[str, Any]]:
        events = []
        for output in self.session.due(self.now):
            if isinstance(output, ServerEvent):
                # The wire text is exactly the recorded event, though the session builds some
                # texts from a sibling event's (conversation.item.added -> .done).
                assert output.text == json.dumps(output.event, separators=(",", ":"))
                events.append(output.event)
        return events

    def advance(self, seconds: float) -> list[dict[str, Any]]:
        self.now += seconds
        return self.take()

    def session_update(self, **fields: Any) -> list[dict[str, Any]]:
        if self.session.dialect is Dialect.GA:
            fields.setdefault("type", "realtime")
        return self.send({"type": "session.update", "session": fields})


def types(events: list[dict[str, Any]]) -> list[str]:
    return [event["type"] for event in events]


# ---- a real browser ----------------------------------------------------------------------------

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")


def playwright_or_skip() -> Any:
    """Playwright's ``sync_playwright`` for Debian's Chromium (``CHROMIUM``). Where either is
    missing the test skips, except in CI (``CI`` set), where ``.ci/run`` installs Chromium: a
    missing browser there fails, so that the browser tests never pass by not running."""
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        why = "playwright is not installed (pip install -e '.[test]')"
    else:
        if CHROMIUM is not None:
            return sync_playwright
        why = "Chromium is not installed (.ci/run installs Debian's chromium)"
    if os.environ.get("CI"):
        pytest.fail(f"the browser tests cannot run in CI: {why}")
    pytest.skip(why)


# ---- the Node example --------------------------------------------------------------------------

NODE_EXAMPLE = Path(__file__).resolve().parents[1] / "examples" / "node"
# A test module's pytestmark when it runs the Node example: skipped, saying which is missing.
NEEDS_NODE_EXAMPLE = [
    pytest.mark.skipif(shutil.which("node") is None, reason="node is not installed"),
    pytest.mark.skipif(
        not (NODE_EXAMPLE / "node_modules" / "openai").is_dir(),
        reason="the example's npm packages are not installed: npm ci --prefix examples/node",
    ),
]
