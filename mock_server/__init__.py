"""realtime-mock's server side: everything that speaks the OpenAI Realtime wire protocol.

The session (:mod:`mock_server.session`) is a state machine that never touches a socket; the
websockets server (:mod:`mock_server.server`) only moves frames between it and the client.
"""

__version__ = "0.1.0"
