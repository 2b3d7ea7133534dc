"""A Node client on the official openai npm package, driven by ``realtime-mock run --tls``.

The test needs ``node`` and the example's npm packages (``npm ci --prefix examples/node``);
it is skipped, saying which is missing, otherwise (the test suite itself never downloads).
"""

from __future__ import annotations

import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

from tests.helpers import NEEDS_NODE_EXAMPLE, NODE_EXAMPLE

pytestmark = NEEDS_NODE_EXAMPLE


def test_node_client_passes_text_and_function_call_over_wss(tmp_path: Path) -> None:
    junit = tmp_path / "node.xml"
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "harness.cli",
            "run",
            "--tls",
            "--timeout",
            "60",
            "--scenario",
            "text_turn",
            "--scenario",
            "function_call",
            "--junit-xml",
            str(junit),
            "--",
            "node",
            str(NODE_EXAMPLE / "agent.js"),
        ],
        capture_output=True,
        text=True,
        timeout=180,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    suite = ET.parse(junit).getroot()
    assert (suite.get("tests"), suite.get("failures")) == ("2", "0")
    outputs = [case.findtext("system-out") or "" for case in suite.iter("testcase")]
    assert "answer: It is sunny in Paris." in outputs[1]
