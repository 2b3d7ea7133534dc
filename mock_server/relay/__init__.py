"""Pass-through: the mock relays a client's connection to an upstream Realtime endpoint.

- :mod:`~mock_server.relay.upstream`: :class:`Upstream`, the endpoint a mount relays to, opened
  during the client's handshake (its refusal is the client's answer), and the upstream key;
- :mod:`~mock_server.relay.relayed`: :class:`Relay`, one relayed connection, frames both ways
  into the transcript the recorder reads;
- :mod:`~mock_server.relay.faults`: a passthrough scenario's faults, as the relay's side of
  the one interpreter's ``Actions`` protocol.

Nothing here imports the server (:mod:`mock_server.server`), which imports this package.
"""

from typing import TYPE_CHECKING, Any

from mock_server.relay.upstream import (
    DEFAULT_UPSTREAM,
    Upstream,
    is_real_key,
    upstream_key,
    upstream_url,
)

if TYPE_CHECKING:
    from mock_server.relay.relayed import RELAY_FAILED, RULE_PROBLEM, RecordingSink, Relay

# Loaded when first used (the session package and numpy come with them): the CLI's parser
# names DEFAULT_UPSTREAM without loading a relay.
_RELAYED = frozenset({"RELAY_FAILED", "RULE_PROBLEM", "RecordingSink", "Relay"})


def __getattr__(name: str) -> Any:
    if name in _RELAYED:
        from mock_server.relay import relayed

        return getattr(relayed, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


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
