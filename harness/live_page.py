"""``serve``'s live page at ``/_mock/``: the connections as they happen, each one's report a click
away (``/_mock/view/N``, the page :mod:`harness.report` writes).

The index lists the open connections and the last :data:`KEEP_ENDED` that ended (newest
first) and refreshes itself every :data:`REFRESH_S` seconds from ``/_mock/view.json``. A view is
rendered when asked for, in a worker thread that hands the event loop the interpreter between
pieces of work, so that looking at an hour-long session never stalls the others. The pages
answer loopback clients only: they show what clients sent.
"""

from __future__ import annotations

import asyncio
import collections
import ipaddress
import threading

from websockets.datastructures import Headers
from websockets.http11 import Response

from mock_server.protocol.http import HttpRequest, json_response, openai_error
from mock_server.redaction import secrets_of
from mock_server.server import Connection, MockServer, warm

KEEP_ENDED = 20
REFRESH_S = 2

_INDEX = """<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<link rel="icon" href="data:,">
<title>realtime-mock: live</title>
<style>
:root { --bg:#fff; --fg:#1c2128; --muted:#57606a; --line:#d0d7de; --ok:#1a7f37; --bad:#cf222e;
  --accent:#0969da; color-scheme: light dark; }
@media (prefers-color-scheme: dark) { :root { --bg:#0d1117; --fg:#e6edf3; --muted:#9198a1;
  --line:#30363d; --ok:#3fb950; --bad:#f85149; --accent:#4493f8; } }
body { margin:0; padding:1rem 1.25rem; background:var(--bg); color:var(--fg);
  font:14px/1.45 system-ui, sans-serif; }
a { color: var(--accent); } :focus-visible { outline: 2px solid #fb8500; }
table { border-collapse: collapse; width: 100%; max-width: 70rem; }
th, td { text-align: left; padding: .3rem .6rem; border-bottom: 1px solid var(--line); }
th { color: var(--muted); font-weight: normal; }
.open { color: var(--accent); } .ok { color: var(--ok); } .bad { color: var(--bad); }
.muted { color: var(--muted); }
</style></head>
<body><h1>realtime-mock: connections</h1>
<p class="muted">Open connections and the last __KEEP__ that ended, newest first; refreshed every
__REFRESH__ s. Each opens its report: timeline, findings, audio and VAD markers.</p>
<table><thead><tr><th>#</th><th>path</th><th>dialect</th><th>state</th><th>closed</th>
<th>events</th><th>findings</th></tr></thead><tbody id="rows"></tbody></table>
<script>
"use strict";
function cell(text, css) { const td = document.createElement("td"); td.textContent = text;
  if (css) td.className = css; return td; }
async function refresh() {
  try {
    const answer = await fetch("view.json", { cache: "no-store" });
    const list = await answer.json();
    const rows = document.getElementById("rows");
    rows.replaceChildren(...list.connections.map((c) => {
      const tr = document.createElement("tr");
      const link = document.createElement("a");
      link.href = "view/" + c.number; link.textContent = String(c.number);
      const first = document.createElement("td"); first.appendChild(link); tr.appendChild(first);
      tr.appendChild(cell(c.path)); tr.appendChild(cell(c.dialect));
      tr.appendChild(cell(c.state, c.state === "open" ? "open" : c.findings ? "bad" : "ok"));
      tr.appendChild(cell(c.closed));
      tr.appendChild(cell(String(c.events))); tr.appendChild(cell(String(c.findings)));
      return tr;
    }));
    if (!list.connections.length) {
      const tr = document.createElement("tr"); tr.appendChild(cell("no connection yet", "muted"));
      rows.replaceChildren(tr);
    }
    document.documentElement.dataset.ready = "true";
  } catch (error) { console.warn("realtime-mock: refresh failed", error); }
}
refresh(); setInterval(refresh, __REFRESH__ * 1000);
</script></body></html>
"""


def _loopback(peer: str | None) -> bool:
    try:
        return peer is not None and ipaddress.ip_address(peer).is_loopback
    except ValueError:
        return False


class LivePage:
    """The live page of ``server``; call it with each connection that ends (it keeps the last
    :data:`KEEP_ENDED`), and :meth:`install` it on the server's routes."""

    def __init__(self, server: MockServer) -> None:
        self.server = server
        self._ended: collections.deque[Connection] = collections.deque(maxlen=KEEP_ENDED)
        self._lock = threading.Lock()

    def __call__(self, connection: Connection) -> None:
        with self._lock:
            self._ended.append(connection)

    def install(self) -> None:
        warm.also("harness.report")  # numpy and the report's parts: off the loop
        self.server.http_routes.add("/_mock/", self._index, exact=True)
        self.server.http_routes.add("/_mock/view.json", self._list, exact=True)
        self.server.http_routes.add("/_mock/view/", self._view)

    def connections(self) -> list[Connection]:
        """Open ones, then those kept after they ended; newest first."""
        with self._lock:
            ended = list(self._ended)
        seen = {id(c) for c in ended}
        live = [c for c in list(self.server.connections) if id(c) not in seen and not c.ended]
        return [*reversed(live), *reversed(ended)]

    @staticmethod
    def _refused(request: HttpRequest) -> Response | None:
        if request.method != "GET":
            return openai_error(405, f"Method {request.method} is not allowed on {request.path}")
        if not _loopback(request.peer):
            return openai_error(403, "The live page answers loopback clients only.")
        return None

    async def _index(self, request: HttpRequest) -> Response:
        refused = self._refused(request)
        if refused is not None:
            return refused
        page = _INDEX.replace("__KEEP__", str(KEEP_ENDED)).replace("__REFRESH__", str(REFRESH_S))
        return _html(page)

    async def _list(self, request: HttpRequest) -> Response:
        refused = self._refused(request)
        if refused is not None:
            return refused
        rows = []
        for connection in self.connections():
            transcript = connection.transcript
            handshake = transcript.handshake
            rows.append(
                {
                    "number": connection.number,
                    "path": handshake.path if handshake else "",
                    "dialect": handshake.dialect if handshake else "",
                    "state": "ended" if connection.ended else "open",
                    "closed": " ".join(map(str, transcript.closed)).strip()
                    if transcript.closed
                    else "",
                    "events": len(transcript.entries),
                    "findings": sum(
                        1
                        for e in list(transcript.entries)
                        if e.finding is not None and e.finding.severity == "error"
                    ),
                }
            )
        return json_response(200, {"connections": rows})

    async def _view(self, request: HttpRequest) -> Response:
        refused = self._refused(request)
        if refused is not None:
            return refused
        wanted = request.path.removeprefix("/_mock/view/").strip("/")
        matches = [c for c in self.connections() if str(c.number) == wanted]
        if not matches:
            known = ", ".join(str(c.number) for c in self.connections()) or "none"
            return openai_error(404, f"No connection {wanted!r} is kept (kept: {known}).")
        connection = matches[0]
        transcript = connection.transcript
        # A copy of what it holds now (an open connection goes on without the page).
        from mock_server.transcript import Transcript

        copy = Transcript(handshake=transcript.handshake, entries=transcript.entries.copy())
        copy.closed = transcript.closed
        tape = transcript.input_audio
        from harness.report import ConnectionRecord, Section, render_report  # numpy: on use
        from harness.report.model import Pacer

        record = ConnectionRecord(
            connection.number,
            copy,
            None,
            bytes(tape) if tape is not None else None,
            secrets=secrets_of(connection),
        )
        state = "ended" if connection.ended else "open (as of now)"
        title = f"realtime-mock connection {connection.number}, {state}"
        page = await asyncio.to_thread(
            lambda: render_report(
                [Section(f"connection {connection.number}", [record])],
                title=title,
                pause=Pacer(),
            )
        )
        return _html(page)


def _html(page: str) -> Response:
    data = page.encode("utf-8")
    headers = Headers(
        [
            ("Content-Type", "text/html; charset=utf-8"),
            ("Content-Length", str(len(data))),
            ("Cache-Control", "no-store"),
        ]
    )
    return Response(200, "OK", headers, data)


__all__ = ["KEEP_ENDED", "LivePage"]
