"""The websockets server: a sans-I/O handshake, mounts as configuration, a pump per connection.

- :mod:`~mock_server.server.handshake`: ``decide(request, mounts) -> Refuse | Accept | Relay``,
  with no socket and no event loop;
- :mod:`~mock_server.server.mount`: :class:`Mount`, what a URL prefix's connections do, and
  :class:`MountTraffic`, what the server counts on it;
- :mod:`~mock_server.server.connection`: the pump between a WebSocket and a session (or a
  relay) and its alarm;
- :mod:`~mock_server.server.server`: :class:`MockServer`, the listeners, the mounts, ``/healthz``
  and the URLs (:meth:`MockServer.url_for`);
- :mod:`~mock_server.server.threaded`: :class:`ThreadedMockServer`, for sync code;
- :mod:`~mock_server.server.workers` and :mod:`~mock_server.server.shared_state`: several
  server processes on one port (``serve --workers``) and what they count together;
- :mod:`~mock_server.server.logs` and :mod:`~mock_server.server.warm`: websockets' log made
  key-free, and what sessions need built once per process.

The server may import the relay (:mod:`mock_server.relay`); the relay never imports the server.
"""

from mock_server.server.banner import describe
from mock_server.server.connection import Connection
from mock_server.server.handshake import BETA_RETIRED_MESSAGE, KNOWN_MODELS
from mock_server.server.mount import BetaPolicy, Mount, MountTraffic, mount_dialect
from mock_server.server.server import (
    HANDSHAKE_TIMEOUT,
    MAX_FRAME_BYTES,
    MAX_QUEUE,
    WRITE_LIMIT,
    MockServer,
)
from mock_server.server.threaded import ThreadedMockServer
from mock_server.server.warm import default_transcriber, warm_up

__all__ = [
    "BETA_RETIRED_MESSAGE",
    "HANDSHAKE_TIMEOUT",
    "KNOWN_MODELS",
    "MAX_FRAME_BYTES",
    "MAX_QUEUE",
    "WRITE_LIMIT",
    "BetaPolicy",
    "Connection",
    "MockServer",
    "Mount",
    "MountTraffic",
    "ThreadedMockServer",
    "default_transcriber",
    "describe",
    "mount_dialect",
    "warm_up",
]
