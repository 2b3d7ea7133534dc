"""The Node example's node:test suite (``examples/node/control.test.js``): each of its tests
mounts its own scenario through the control API of one ``realtime-mock serve --tls`` and
asserts the verdict, with the official openai npm package as the client.

Needs ``node`` and the example's npm packages (``npm ci --prefix examples/node``); skipped,
saying which is missing, otherwise.
"""

from __future__ import annotations

import os
import re
import subprocess

from tests.acceptance.control_serve import serving
from tests.helpers import NEEDS_NODE_EXAMPLE, NODE_EXAMPLE

pytestmark = NEEDS_NODE_EXAMPLE


def test_the_node_suite_mounts_a_scenario_per_test_and_asserts_its_verdict() -> None:
    with serving("--tls") as served:
        assert served.ca_path is not None
        result = subprocess.run(
            ["node", "--test", "--test-reporter=tap", str(NODE_EXAMPLE / "control.test.js")],
            capture_output=True,
            text=True,
            timeout=120,
            env={
                **os.environ,
                "REALTIME_MOCK_URL": served.http,
                "NODE_EXTRA_CA_CERTS": served.ca_path,
            },
        )
        output = result.stdout + result.stderr
        assert result.returncode == 0, output
        counts = dict(re.findall(r"^# (tests|pass|fail) (\d+)$", result.stdout, re.MULTILINE))
        assert counts == {"tests": "4", "pass": "4", "fail": "0"}, output
        # What the suite left behind: every mount deleted, each connection in the journal.
        assert served.call("GET", "/mounts")[1] == {"mounts": []}
        _, journal = served.call("GET", "/journal")
        verdicts = sorted(e["ok"] for e in journal["entries"])
        assert verdicts == [False, True, True], journal
