"""What the session does with a client event: the checks before validation, the transcript's
copy (without the audio the session keeps decoded), and one handler per event type.

Each handler hands the event to the part of the session that owns what it changes (the
configuration, the input audio, the conversation, the responses); where an event touches two
parts (deleting an item a response is still streaming) the handler orders them.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from mock_server.protocol import session_config
from mock_server.protocol.errors import RealtimeError
from mock_server.protocol.frames import MAX_SESSION_CONFIG_BYTES
from mock_server.transcript import Transcript, elided

if TYPE_CHECKING:
    from mock_server.session.session import Session


# Client events whose audio the session keeps decoded (buffer, item): the transcript keeps
# their size only, not the base64 text a second time.
APPEND = "input_audio_buffer.append"
ITEM_CREATE = "conversation.item.create"
CARRY_AUDIO = frozenset({APPEND, ITEM_CREATE})
# The keys and types of the events that carry audio, as one string each for all of a
# session's transcript entries.
_SHARED = {key: key for key in ("type", "audio", "event_id", *CARRY_AUDIO)}


def check_type(type_: Any, size: int) -> str:
    """The event's ``type``; refused (RealtimeError) when it is not a string, or when the event
    is a ``session.update`` of ``size`` bytes, too large to be validated at all."""
    if type_ is None:
        raise RealtimeError("The 'type' field is missing.", "invalid_event", "type")
    if not isinstance(type_, str):
        raise RealtimeError(
            f"Invalid type for 'type': expected a string, but got {type(type_).__name__}.",
            "invalid_type",
            "type",
        )
    if type_ == "session.update" and size > MAX_SESSION_CONFIG_BYTES:
        # Refused before validation, whose cost grows with the size of the schemas.
        raise RealtimeError(
            f"Invalid 'session': this update alone is {size} bytes of JSON, over "
            f"the limit of {MAX_SESSION_CONFIG_BYTES} bytes (1 MiB) for a session's "
            "configuration.",
            "session_config_too_large",
            "session",
        )
    return type_


def record_client(
    transcript: Transcript, t: float, event: dict[str, Any], type_: Any, *, as_sent: bool = False
) -> None:
    """Write a client event to the transcript: ``as_sent`` (it holds no audio), an append as
    the transcript's columns (:class:`~mock_server.transcript.EntryLog`), any other with its
    audio as its size (:func:`transcript_copy`)."""
    if as_sent:
        transcript.add(t, "client", _SHARED.get(type_, type_), event=event)
    elif not (type_ == APPEND and transcript.entries.add_append(t, event)):
        label, recorded = transcript_copy(event, type_)
        transcript.add(t, "client", label, event=recorded)


def transcript_copy(event: dict[str, Any], type_: Any) -> tuple[str, dict[str, Any]]:
    """The transcript's name and copy of a client event: as sent, but for its audio (see
    :func:`without_audio`; the copy's type is then the module's own string, shared by every
    entry of its type)."""
    if type_ in CARRY_AUDIO:
        recorded = without_audio(event)
        return recorded["type"], recorded
    return (type_ if isinstance(type_, str) else "<no type>"), event


def without_audio(event: dict[str, Any]) -> dict[str, Any]:
    """The transcript's copy of a client event that carries audio: each base64 audio string
    replaced by its size (:func:`~mock_server.transcript.elided`); other fields as sent.

    >>> without_audio({"type": "input_audio_buffer.append", "audio": "AAAA"})
    {'type': 'input_audio_buffer.append', 'audio': '<elided: 4 base64 characters of audio>'}
    """
    audio = event.get("audio")
    if isinstance(audio, str):
        # (The usual append is kept as the transcript's columns instead: see record_client.)
        # Rebuilt with the module's own key and type strings, in the event's key order: the
        # JSON decoder makes fresh ones per frame, which every entry would hold.
        copy = {_SHARED.get(key, key): value for key, value in event.items()}
        copy["audio"] = elided(len(audio), "audio")
        type_ = copy.get("type")
        if isinstance(type_, str):
            copy["type"] = _SHARED.get(type_, type_)
        return copy
    item = event.get("item")
    content = item.get("content") if isinstance(item, dict) else None
    if not isinstance(content, list):
        return event
    for part in content:
        if isinstance(part, dict) and isinstance(part.get("audio"), str):
            break
    else:
        return event  # no audio: the event as sent
    assert isinstance(item, dict)
    parts = [
        {**part, "audio": elided(len(part["audio"]), "audio")}
        if isinstance(part, dict) and isinstance(part.get("audio"), str)
        else part
        for part in content
    ]
    return {**event, "item": {**item, "content": parts}}


def _session_update(session: Session, event: dict[str, Any]) -> None:
    vad = session.input_audio.vad, session.input_audio.vad_item_id
    try:
        session.settings.update(event["session"], session.input_audio.configure_vad)
    except Exception:
        # Nothing of a refused update is kept (the settings restored themselves).
        session.input_audio.vad, session.input_audio.vad_item_id = vad
        raise
    session.responses.mcp.tools_changed(session.config.get("tools") or [])


def _transcription_session_update(session: Session, event: dict[str, Any]) -> None:
    vad = session.input_audio.vad, session.input_audio.vad_item_id
    try:
        session.settings.update_transcription(event["session"], session.input_audio.configure_vad)
    except Exception:
        session.input_audio.vad, session.input_audio.vad_item_id = vad
        raise


def _append(session: Session, event: dict[str, Any]) -> None:
    session.input_audio.append(event, session.clock.now)


def _commit(session: Session, event: dict[str, Any]) -> None:
    session.input_audio.commit()


def _clear(session: Session, event: dict[str, Any]) -> None:
    session.input_audio.clear()


def _output_clear(session: Session, event: dict[str, Any]) -> None:
    # Only WebRTC/SIP have a server-side output buffer; over WebSocket the live service
    # accepts the event and has nothing to clear.
    return


def _item_create(session: Session, event: dict[str, Any]) -> None:
    session.conversation.create(event)
    session.responses.mcp.answered(event)


def _item_retrieve(session: Session, event: dict[str, Any]) -> None:
    session.conversation.retrieve(event["item_id"])


def _item_delete(session: Session, event: dict[str, Any]) -> None:
    session.conversation.require(event["item_id"], "deleting")
    run = session.responses.streaming(event["item_id"])
    if run is not None:
        # No delta may follow for an item that is gone: the response stops first (its
        # closing events still name the item), then the item goes.
        session.responses.cancel(run, "client_cancelled")
    session.conversation.delete(event["item_id"])


def _item_truncate(session: Session, event: dict[str, Any]) -> None:
    output = session.config["audio"].get("output", {})
    session.conversation.truncate(event, session_config.format_name(output.get("format")))
    run = session.responses.streaming(event["item_id"])
    if run is not None:
        # The rest of the item's audio and transcript would contradict the cut (and
        # extend the audio past it): the response stops there, as on a cancel.
        session.responses.cancel(run, "client_cancelled")


def _response_create(session: Session, event: dict[str, Any]) -> None:
    overrides = event.get("response") or {}
    pending_calls = session.conversation.pending_calls
    if pending_calls and overrides.get("conversation", "auto") != "none":
        pending = ", ".join(f"{name} ({cid})" for cid, name in pending_calls.items())
        session.mistakes.find(
            "pending_function_call",
            f"response.create while function calls await their output: {pending}",
            event.get("event_id"),
        )
    session.responses.start(overrides, event_id=event.get("event_id"))


def _response_cancel(session: Session, event: dict[str, Any]) -> None:
    session.responses.cancel_requested(event.get("response_id"))


HANDLERS: dict[str, Callable[[Session, dict[str, Any]], None]] = {
    "session.update": _session_update,
    "transcription_session.update": _transcription_session_update,
    "input_audio_buffer.append": _append,
    "input_audio_buffer.commit": _commit,
    "input_audio_buffer.clear": _clear,
    "output_audio_buffer.clear": _output_clear,
    "conversation.item.create": _item_create,
    "conversation.item.retrieve": _item_retrieve,
    "conversation.item.delete": _item_delete,
    "conversation.item.truncate": _item_truncate,
    "response.create": _response_create,
    "response.cancel": _response_cancel,
}
