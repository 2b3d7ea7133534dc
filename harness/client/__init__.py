"""The reference client: everything the Realtime docs describe, done right, in both dialects.

It is what a correct client looks like to the mock's verdicts, and a usable client in its own
right (``realtime-mock client ...``). It:

- connects with the right headers for its dialect, retrying 429 and 5xx refusals at the
  handshake with exponential backoff and full jitter, honouring ``retry-after``; a 401 becomes
  an :class:`AuthenticationError` that says what to do;
- configures the session, in the GA shape or the flat beta shape;
- sends text, or streams PCM16 audio as ``input_audio_buffer.append`` in real time or fast,
  committing by hand when server VAD is off;
- runs the function-call loop: executes the tool from its registry, sends the
  ``function_call_output`` with the right ``call_id``, then ``response.create``;
- keeps the conversation, and when the session ends by its maximum duration (close 1001 or
  ``session_expired``) reconnects and replays it as ``conversation.item.create`` items;
- on barge-in (``speech_started`` while the reply is playing) stops playback and truncates the
  reply at the ``audio_end_ms`` actually played.

Its parts: :mod:`~harness.client.config` (what it is told, what a turn returns),
:mod:`~harness.client.errors`, :mod:`~harness.client.connection` (connect with backoff,
configure, send, read) and :mod:`~harness.client.realtime` (the conversation, function calls,
audio in, barge-in, reconnects).
"""

from harness.client.config import Backoff, ClientConfig, Tool, Turn
from harness.client.errors import AuthenticationError, ClientError, HandshakeRefused, SessionError
from harness.client.realtime import RealtimeClient

__all__ = [
    "AuthenticationError",
    "Backoff",
    "ClientConfig",
    "ClientError",
    "HandshakeRefused",
    "RealtimeClient",
    "SessionError",
    "Tool",
    "Turn",
]
