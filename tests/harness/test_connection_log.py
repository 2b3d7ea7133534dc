"""``serve -v``'s line per connection: path, dialect, the key's kind, duration, close, verdict."""

from __future__ import annotations

import asyncio
import io
import re
import signal
import subprocess

from harness.connection_log import logging_connections
from mock_server.scenario.loader import load_scenario_text
from mock_server.scenario.served import ServedScenario
from mock_server.server import Mount
from tests.harness.test_cli import start_serve
from tests.helpers import WAIT, connected, send, serving

SECRET = "sk-live-SECRETSECRET1234"


async def test_a_line_per_connection_without_the_key() -> None:
    out = io.StringIO()
    async with serving(on_connection_end=logging_connections(out=out)) as server:
        server.mount(Mount(prefix="/t/a", pace=0.0))
        url = server.url_for("/t/a") + "?model=gpt-realtime"
        async with connected(url, headers={"Authorization": f"Bearer {SECRET}"}):
            pass
        await server.wait_for_sessions(0)
    line = out.getvalue()
    assert SECRET not in line and "SECRET" not in line
    assert re.fullmatch(
        r"realtime-mock: connection 1 /t/a/v1/realtime ga key=sk-<redacted> \d+\.\d\ds "
        r"close=1000 verdict=ok\n",
        line,
    ), line


async def test_the_line_carries_the_scenarios_verdict_for_the_connection() -> None:
    text = "name: x\ndescription: y\nsteps:\n  - expect: response.create\n"
    play = ServedScenario(load_scenario_text(text))
    out = io.StringIO()
    async with serving(play.mount()) as server:
        server.on_connection_end = logging_connections(out=out)
        async with connected(server.ws_url) as ws:
            await send(ws, {"type": "session.update", "session": {"type": "realtime"}})
        await server.wait_for_sessions(0)
    line = out.getvalue()
    assert "verdict=failed: connection 1: expect response.create" in line, line


def test_serve_verbose_logs_each_connection_on_stderr() -> None:
    process, ws_url = start_serve("-v", "--pace", "fast")
    try:

        async def one() -> None:
            async with connected(ws_url, headers={"Authorization": f"Bearer {SECRET}"}):
                pass

        asyncio.run(one())
    finally:
        process.send_signal(signal.SIGTERM)
        try:
            _, err = process.communicate(timeout=WAIT)
        except subprocess.TimeoutExpired:
            process.kill()
            raise
    assert "realtime-mock: connection 1 /v1/realtime ga key=sk-<redacted>" in err, err
    assert SECRET not in err
    assert process.returncode == 0
