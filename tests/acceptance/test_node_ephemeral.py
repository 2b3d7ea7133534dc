"""The official openai npm client creates a client secret against the mock and connects with it,
over wss (``examples/node/ephemeral.js``).

Needs ``node`` and the example's npm packages (``npm ci --prefix examples/node``); skipped,
saying which is missing, otherwise.
"""

from __future__ import annotations

import asyncio
import json
import os

from mock_server.server import Mount
from tests.helpers import NEEDS_NODE_EXAMPLE, NODE_EXAMPLE, serving

pytestmark = NEEDS_NODE_EXAMPLE


async def test_node_client_secret_then_a_wss_connection_with_it() -> None:
    async with serving(Mount(pace=0.0), tls=True) as server:
        assert server.https_base_url is not None and server.ca_path is not None
        env = {
            **os.environ,
            "OPENAI_BASE_URL": server.https_base_url,
            "OPENAI_API_KEY": "sk-backend",
            "NODE_EXTRA_CA_CERTS": str(server.ca_path),
        }
        node = await asyncio.create_subprocess_exec(
            "node",
            str(NODE_EXAMPLE / "ephemeral.js"),
            env=env,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
        )
        out, err = await asyncio.wait_for(node.communicate(), 60)
        assert node.returncode == 0, out.decode() + err.decode()
        await server.wait_for_sessions(0)
        connections = list(server.connections)
    report = json.loads(out.decode().strip().splitlines()[-1])
    assert report == {
        "key_prefix": "ek_",
        "expires_in": report["expires_in"],
        "secret_session": "Answer in one word.",
        "instructions": "Answer in one word.",
        "output_modalities": ["text"],
    }
    assert 590 <= report["expires_in"] <= 600
    # The client connected with the ephemeral key alone, over wss.
    assert len(connections) == 1 and (connections[0].api_key or "").startswith("ek_")
