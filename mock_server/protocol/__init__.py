"""The two dialects of the Realtime protocol: event names, shapes, validation and errors.

GA (``/v1/realtime`` without a beta header) and beta (``OpenAI-Beta: realtime=v1``) share most
of their events; :mod:`mock_server.protocol.events` is the one table of what differs.
"""
