"""Pass-through: the mock relays a client's connection to an upstream Realtime endpoint.

- :mod:`~mock_server.relay.upstream`: :class:`Upstream`, the endpoint a mount relays to, opened
  during the client's handshake (its refusal is the client's answer), and the upstream key;
- :mod:`~mock_server.relay.relayed`: :class:`Relay`, one relayed connection, frames both ways
  into the transcript the recorder reads;
- :mod:`~mock_server.relay.faults`: a passthrough scenario's faults, as the relay's side of
  the one interpreter's ``Actions`` protocol.

Nothing here imports the server (:mod:`mock_server.server`), which imports this package.
"""

from mock_server.relay.relayed import (
    RELAY_FAILED,
    RULE_PROBLEM,
    RecordingSink,
    Relay,
)
from mock_server.relay.upstream import (
    DEFAULT_UPSTREAM,
    Upstream,
    is_real_key,
    upstream_key,
    upstream_url,
)

__all__ = [
    "DEFAULT_UPSTREAM",
    "RELAY_FAILED",
    "RULE_PROBLEM",
    "RecordingSink",
    "Relay",
    "Upstream",
    "is_real_key",
    "upstream_key",
    "upstream_url",
]
