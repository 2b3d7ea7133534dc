"""The lines ``realtime-mock serve`` (and ``record``) print when the server is up."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from mock_server.server.server import MockServer


def describe(server: MockServer, *, any_key: bool) -> str:
    """The lines ``realtime-mock serve`` prints: URLs and what to hand the SDKs."""
    lines = [
        f"realtime-mock listening on {server.ws_url}",
    ]
    if server.wss_url:
        lines.append(f"                      and {server.wss_url}")
    lines += [
        "",
        "Point the openai SDKs at it:",
        f"  OPENAI_BASE_URL={server.base_url}",
        "  OPENAI_API_KEY="
        + ("sk-mock (any non-empty key is accepted)" if any_key else "<one of --api-key>"),
    ]
    if server.ca_path is not None:
        lines += [
            "",
            "TLS (trust this CA; some SDKs only connect over wss://):",
            f"  OPENAI_BASE_URL={server.https_base_url}",
            f"  SSL_CERT_FILE={server.ca_path}",
            f"  NODE_EXTRA_CA_CERTS={server.ca_path}",
        ]
    lines += [
        "",
        f"Health check: {server.url_for(scheme='http', path='/healthz')}",
        "Stop with Ctrl-C.",
    ]
    if server.host not in ("127.0.0.1", "localhost", "::1"):
        lines.insert(1, f"WARNING: listening on {server.host}, reachable from other machines.")
    return "\n".join(lines)
