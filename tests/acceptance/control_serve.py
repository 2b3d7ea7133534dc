"""``realtime-mock serve`` in a subprocess, for the control API's end-to-end tests: its control
URL, its TLS CA, and an HTTP client for ``/_mock/`` (the tests' own, over 127.0.0.1 only)."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import urllib.error
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

WAIT = 15.0
_BANNER_LINES = 40


@dataclass
class Served:
    process: subprocess.Popen[str]
    http: str  # http://127.0.0.1:PORT
    ca_path: str | None

    def call(
        self,
        method: str,
        path: str,
        body: bytes | None = None,
        content_type: str | None = None,
        headers: dict[str, str] | None = None,
    ) -> tuple[int, Any]:
        """The status and JSON body of one control request."""
        request = urllib.request.Request(
            f"{self.http}/_mock{path}", data=body, method=method, headers=headers or {}
        )
        if content_type:
            request.add_header("Content-Type", content_type)
        try:
            with urllib.request.urlopen(request, timeout=WAIT) as response:
                return response.status, json.loads(response.read())
        except urllib.error.HTTPError as error:
            return error.code, json.loads(error.read())

    def post_json(self, path: str, value: Any, **kwargs: Any) -> tuple[int, Any]:
        return self.call("POST", path, json.dumps(value).encode(), "application/json", **kwargs)


@contextmanager
def serving(*args: str) -> Iterator[Served]:
    """``serve --port 0 ARGS``, up once it has printed its URLs; stopped with SIGTERM."""
    process = subprocess.Popen(
        [sys.executable, "-m", "harness.cli", "serve", "--port", "0", *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )
    assert process.stdout is not None
    try:
        http, ca_path, banner = None, None, []
        for _ in range(_BANNER_LINES):
            line = process.stdout.readline()
            banner.append(line)
            if found := re.search(r"NODE_EXTRA_CA_CERTS=(\S+)", line):
                ca_path = found.group(1)
            if found := re.search(r"Health check: (http://127\.0\.0\.1:\d+)/healthz", line):
                http = found.group(1)
            # The control API's line comes last, when it is served.
            last = "Stop with Ctrl-C." if "--no-control" in args else "Control API: "
            if not line or line.startswith(last):
                break
        assert http is not None, "".join(banner) + process.stderr.read()
        yield Served(process, http, ca_path)
    finally:
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
            try:
                process.wait(WAIT)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(WAIT)
