"""One Realtime session as a state machine that never touches a socket (see
:mod:`mock_server.session.session`), in parts around one outbox.

=============================  ==========================================================
:mod:`.session`                :class:`Session`: driving, the clock, dispatch
:mod:`.handlers`               what each client event does, part by part
:mod:`.update`                 the configuration, ``session.update``, ``session.created``
:mod:`.input_audio`            the input buffer, server VAD, diagnostics, transcription
:mod:`.conversation`           the items, their audio, the conversation's bounds
:mod:`.responses`              response runs: start, pace, cancel, end, usage
:mod:`.streaming`              the event sequence of one response
:mod:`.outbox`                 the one exit: stamp, encode, record, check, queue
:mod:`.outputs`                what :meth:`Session.due` returns
:mod:`.script`                 the :class:`Script` protocol and what a script may do
:mod:`.options`                :class:`SessionOptions`
:mod:`.context`                the clock and the log of mistakes the parts share
=============================  ==========================================================
"""

from mock_server.conformance import OutboundCheck
from mock_server.session.conversation import (
    AUDIO_RELEASED,
    MAX_CONVERSATION_AUDIO_BYTES,
    MAX_CONVERSATION_ITEMS,
    MAX_CONVERSATION_PARTS,
    MAX_CONVERSATION_TEXT,
)
from mock_server.session.input_audio import MAX_APPEND_BYTES, MAX_INPUT_BUFFER_BYTES, MIN_COMMIT_MS
from mock_server.session.options import DEFAULT_MAX_DURATION_S, SessionOptions, expiry_message
from mock_server.session.outbox import Outbox
from mock_server.session.outputs import Close, Drop, Output, RawFrame, ServerEvent
from mock_server.session.responses import MAX_OUT_OF_BAND_RESPONSES
from mock_server.session.script import Script, ScriptedSession
from mock_server.session.session import Session
from mock_server.session.streaming import AUDIO_CHUNK_MS

__all__ = [
    "AUDIO_CHUNK_MS",
    "AUDIO_RELEASED",
    "DEFAULT_MAX_DURATION_S",
    "MAX_APPEND_BYTES",
    "MAX_CONVERSATION_AUDIO_BYTES",
    "MAX_CONVERSATION_ITEMS",
    "MAX_CONVERSATION_PARTS",
    "MAX_CONVERSATION_TEXT",
    "MAX_INPUT_BUFFER_BYTES",
    "MAX_OUT_OF_BAND_RESPONSES",
    "MIN_COMMIT_MS",
    "Close",
    "Drop",
    "OutboundCheck",
    "Outbox",
    "Output",
    "RawFrame",
    "Script",
    "ScriptedSession",
    "ServerEvent",
    "Session",
    "SessionOptions",
    "expiry_message",
]
