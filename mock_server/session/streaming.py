"""The event sequence of one response, as a generator the session's clock drives.

:func:`stream_response` emits a response's events in the canonical order (PROTOCOL.md section
6): ``response.created``, ``rate_limits.updated``, then per output item its ``output_item`` and
``content_part`` events with the deltas (audio interleaved with its transcript), and
``response.done``; between deltas it yields the pause before the next, as the response's
:class:`~mock_server.session.pacing.Pacer` says: the latency before ``response.created`` and
before the first delta, audio at its rate times real time with the transcript deltas spread
along it (each word before the chunk where its share of the text begins), text and arguments
at the text rate. The events are built under GA names with neutral items; the outbox and the
encoder render them for the connection.
"""

from __future__ import annotations

import binascii
import math
from collections.abc import Generator, Iterable, Iterator
from typing import TYPE_CHECKING, Any

from mock_server import speech
from mock_server.protocol.formats import BYTES_PER_MS
from mock_server.responder import (
    FunctionCallOutput,
    McpApprovalRequestOutput,
    McpCallOutput,
    MessageOutput,
    placeholder_speech_stream,
    speak_ahead,
)
from mock_server.session import mcp

if TYPE_CHECKING:
    from mock_server.session.responses import ResponseRun, Responses

AUDIO_CHUNK_MS = 100

Pauses = Generator[float, None, None]


def estimate_tokens(text: str) -> int:
    return max(1, math.ceil(len(text) / 4)) if text else 0


def emit_created(responses: Responses, run: ResponseRun) -> None:
    """``response.created`` and the rate limits that follow it."""
    run.created = True
    responses.outbox.emit(
        {"type": "response.created", "response": responses.response_object(run, "in_progress")}
    )
    responses.emit_rate_limits()
    responses.reached(run, "after_created")


def _delta_sent(responses: Responses, run: ResponseRun) -> None:
    run.deltas += 1
    if run.deltas == 1:
        responses.reached(run, "after_first_delta")


def _stream_deltas(
    responses: Responses,
    run: ResponseRun,
    delta_type: str,
    where: dict[str, Any],
    pieces: Iterable[str],
    into: dict[str, Any],
    key: str,
) -> Pauses:
    """Each piece added to ``into[key]`` and sent as a ``delta_type`` event, paced as text (a
    message's text, a function call's or an MCP call's arguments)."""
    for piece in pieces:
        into[key] += piece
        responses.outbox.emit({"type": delta_type, **where, "delta": piece})
        _delta_sent(responses, run)
        pause = run.pacer.text(piece)
        if pause > 0:
            yield pause


def stream_response(responses: Responses, run: ResponseRun) -> Pauses:
    # The first phrase of each spoken reply is made in a thread from now on, while the
    # response's latency passes, rather than on the event loop when its audio is due.
    settings, ahead = run.settings, []
    spoken = "audio" in settings.output_modalities
    for output in run.plan.outputs:
        if spoken and isinstance(output, MessageOutput) and output.audio is None:
            phrase = speak_ahead(_within(output.text, settings.max_output_tokens), settings.voice)
            if phrase is not None:
                ahead.append(phrase)
    try:
        yield from _stream_outputs(responses, run)
    finally:
        for phrase in ahead:  # a reply that stopped first (a spoken phrase was taken)
            speech.forget(phrase, settings.voice)


def _within(text: str, max_tokens: Any) -> str:
    """``text`` cut to ``max_output_tokens`` (about 4 characters a token)."""
    if isinstance(max_tokens, int) and estimate_tokens(text) > max_tokens:
        return text[: max_tokens * 4]
    return text


def _stream_outputs(responses: Responses, run: ResponseRun) -> Pauses:
    pause = run.pacer.first_event()
    if pause > 0:
        yield pause
    emit_created(responses, run)
    pause = run.pacer.first_delta()
    if pause > 0 and run.plan.outputs:
        yield pause
    for index, output in enumerate(run.plan.outputs):
        if isinstance(output, FunctionCallOutput):
            yield from _stream_function_call(responses, run, index, output)
        elif isinstance(output, McpCallOutput):
            yield from mcp.stream_call(responses, run, index, output, _ITEM_STEPS)
        elif isinstance(output, McpApprovalRequestOutput):
            yield from mcp.stream_approval_request(responses, run, index, output, _ITEM_STEPS)
        else:
            yield from _stream_message(responses, run, index, output)
    status = run.plan.status
    details: dict[str, Any] | None = None
    if status != "completed" or run.plan.reason:
        details = {"type": status}
        if run.plan.reason:
            details["reason"] = run.plan.reason
        if run.plan.error:
            details["error"] = run.plan.error
    responses.finish(run, status, details)


def _open_item(responses: Responses, run: ResponseRun, index: int, item: dict[str, Any]) -> None:
    run.current = item
    responses.outbox.emit(
        {
            "type": "response.output_item.added",
            "response_id": run.id,
            "output_index": index,
            "item": responses.encoder.item(item),
        }
    )
    if run.in_conversation:
        responses.conversation.open_model_item(item)


def _close_item(responses: Responses, run: ResponseRun, index: int, status: str) -> None:
    item = run.current
    assert item is not None
    item["status"] = status
    run.output.append(item)
    encoded = responses.encoder.item(item)
    responses.outbox.emit(
        {
            "type": "response.output_item.done",
            "response_id": run.id,
            "output_index": index,
            "item": encoded,
        }
    )
    if run.in_conversation:
        responses.conversation.close_model_item(item, encoded)
    run.current = None
    run.current_kind = None


def close_open_part(responses: Responses, run: ResponseRun) -> None:
    """Close the content part and the item a response stopped early had open (incomplete)."""
    emit = responses.outbox.emit
    index = len(run.output)
    item = run.current
    assert item is not None
    where = {
        "response_id": run.id,
        "item_id": item["id"],
        "output_index": index,
        "content_index": 0,
    }
    if run.current_kind == "audio":
        # None once truncated: the transcript was dropped with the unplayed audio.
        transcript = item["content"][0].get("transcript") or ""
        emit({"type": "response.output_audio.done", **where})
        emit({"type": "response.output_audio_transcript.done", **where, "transcript": transcript})
        emit(
            {
                "type": "response.content_part.done",
                **where,
                "part": {"type": "audio", "transcript": transcript},
            }
        )
    elif run.current_kind == "text":
        text = item["content"][0].get("text", "")
        emit({"type": "response.output_text.done", **where, "text": text})
        emit(
            {"type": "response.content_part.done", **where, "part": {"type": "text", "text": text}}
        )
    _close_item(responses, run, index, "incomplete")


def _stream_message(
    responses: Responses, run: ResponseRun, index: int, output: MessageOutput
) -> Pauses:
    emit = responses.outbox.emit
    output_format = run.settings.output_format
    with_audio = "audio" in run.settings.output_modalities
    text = _within(output.text, run.settings.max_output_tokens)
    if text != output.text:
        run.plan.status = "incomplete"
        run.plan.reason = "max_output_tokens"
    item_id = responses.ids.new("item")
    item: dict[str, Any] = {
        "id": item_id,
        "object": "realtime.item",
        "type": "message",
        "status": "in_progress",
        "role": "assistant",
        "content": [],
    }
    _open_item(responses, run, index, item)
    part_key = "transcript" if with_audio else "text"
    content = {"type": "output_audio" if with_audio else "output_text", part_key: ""}
    item["content"].append(content)
    run.current_kind = "audio" if with_audio else "text"
    where = {"response_id": run.id, "item_id": item_id, "output_index": index, "content_index": 0}
    part_type = "audio" if with_audio else "text"
    emit(
        {"type": "response.content_part.added", **where, "part": {"type": part_type, part_key: ""}}
    )
    words = _split_words(text)
    if with_audio and output.first_audio_after_s:
        pause = run.pacer.hold(output.first_audio_after_s)
        if pause > 0:
            yield pause  # the item is announced, no audio yet: a barge-in finds none to cut
    if with_audio:
        store = responses.conversation.model_audio(item_id, output_format)
        chunk_bytes = AUDIO_CHUNK_MS * BYTES_PER_MS[output_format]
        chunks: Iterable[bytes]
        if output.audio is not None:
            data = _encode_output_audio(output.audio, output_format)
            count = math.ceil(len(data) / chunk_bytes)
            chunks = _pieces([data], chunk_bytes)
        else:
            # Speech a phrase at a time (mock_server/speech.py), or tones a word at a time,
            # made as the response streams.
            pcm_chunk = AUDIO_CHUNK_MS * BYTES_PER_MS["pcm16"]
            length, pieces = placeholder_speech_stream(text, voice=run.settings.voice)
            count = math.ceil(length / pcm_chunk)
            chunks = (
                _encode_output_audio(pcm, output_format) for pcm in _pieces(pieces, pcm_chunk)
            )
        # Transcript deltas interleave with the audio, spread along it: a word goes out before
        # the chunk in which its share of the text (by characters) begins.
        starts = _word_chunks(words, max(count, 1))
        next_word = 0
        transcript = responses.outbox.transcript
        n = -1
        for n, chunk in enumerate(chunks):
            while next_word < len(words) and starts[next_word] <= n:
                word = words[next_word]
                next_word += 1
                content["transcript"] += word
                emit({"type": "response.output_audio_transcript.delta", **where, "delta": word})
            if run.first_audio_at is None:
                run.first_audio_at = responses.clock.now
            store.extend(chunk)
            responses.conversation.audio_added(item_id, len(chunk))
            delta = binascii.b2a_base64(chunk, newline=False).decode("ascii")
            held = transcript.hold(responses.clock.elapsed(), delta, "model audio")
            emit(
                {"type": "response.output_audio.delta", **where, "delta": delta},
                recorded=None if held is delta else {"delta": held},
            )
            _delta_sent(responses, run)
            pause = run.pacer.audio(len(chunk) / BYTES_PER_MS[output_format] / 1000)
            if pause > 0:
                yield pause
        # Words left over (audio made a phrase at a time has an estimated length) go with its end.
        for word in words[next_word:]:  # a text longer than its audio's chunks can carry
            content["transcript"] += word
            emit({"type": "response.output_audio_transcript.delta", **where, "delta": word})
        emit({"type": "response.output_audio.done", **where})
        emit(
            {
                "type": "response.output_audio_transcript.done",
                **where,
                "transcript": content["transcript"],
            }
        )
    else:
        yield from _stream_deltas(
            responses, run, "response.output_text.delta", where, words, content, "text"
        )
        emit({"type": "response.output_text.done", **where, "text": content["text"]})
    emit(
        {
            "type": "response.content_part.done",
            **where,
            "part": {"type": part_type, part_key: content[part_key]},
        }
    )
    done_status = "incomplete" if run.plan.status == "incomplete" else "completed"
    _close_item(responses, run, index, done_status)


def _stream_function_call(
    responses: Responses, run: ResponseRun, index: int, output: FunctionCallOutput
) -> Pauses:
    item_id = responses.ids.new("item")
    call_id = output.call_id or responses.ids.new("call")
    responses.conversation.issued_calls.add(call_id)
    responses.conversation.pending_calls[call_id] = output.name
    item: dict[str, Any] = {
        "id": item_id,
        "object": "realtime.item",
        "type": "function_call",
        "status": "in_progress",
        "name": output.name,
        "call_id": call_id,
        "arguments": "",
    }
    _open_item(responses, run, index, item)
    run.current_kind = "function_call"
    where = {"response_id": run.id, "item_id": item_id, "output_index": index, "call_id": call_id}
    pieces = _split_arguments(output.arguments)
    delta = "response.function_call_arguments.delta"
    yield from _stream_deltas(responses, run, delta, where, pieces, item, "arguments")
    done: dict[str, Any] = {
        "type": "response.function_call_arguments.done",
        **where,
        "arguments": item["arguments"],
    }
    if responses.encoder.names_function_in_arguments_done:
        done["name"] = output.name
    responses.outbox.emit(done)
    _close_item(responses, run, index, "completed")


def _encode_output_audio(pcm: bytes, output_format: str) -> bytes:
    if output_format == "pcm16":
        return pcm
    from mock_server import audio as audio_module

    return audio_module.to_format(pcm, output_format)


def _word_chunks(words: list[str], count: int) -> list[int]:
    """The audio chunk (of ``count``) before which each word's transcript delta goes.

    >>> _word_chunks(["Hi", " there", " you"], 4)
    [0, 0, 2]
    """
    total = sum(len(w) for w in words) or 1
    out: list[int] = []
    offset = 0
    for word in words:
        out.append(min(count - 1, offset * count // total))
        offset += len(word)
    return out


def _split_words(text: str) -> list[str]:
    """Deltas as the live service sends them: words with their leading space.

    >>> _split_words("Hello there  you")
    ['Hello', ' there', ' ', ' you']
    """
    words: list[str] = []
    for n, word in enumerate(text.split(" ")):
        words.append(word if n == 0 else " " + word)
    return [w for w in words if w]


def _pieces(parts: Iterable[bytes], size: int) -> Iterator[bytes]:
    """``parts`` cut again into pieces of ``size`` bytes (the last may be shorter; nothing
    at all is one empty piece), taking a part only when the pieces so far are sent."""
    pending = b""
    sent = False
    for part in parts:
        data = pending + part if pending else bytes(part)
        whole = len(data) - len(data) % size
        for start in range(0, whole, size):
            yield data[start : start + size]
            sent = True
        pending = data[whole:]
    if pending or not sent:
        yield pending


def _split_arguments(arguments: str, size: int = 16) -> Iterator[str]:
    """The argument deltas, one at a time as the run streams (never all built up front)."""
    if not arguments:
        yield ""
    for start in range(0, len(arguments), size):
        yield arguments[start : start + size]


# What the MCP items' streaming (mcp.py) shares with the others.
_ITEM_STEPS = (_open_item, _close_item, _split_arguments, _stream_deltas)
