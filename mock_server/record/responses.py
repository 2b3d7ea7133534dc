"""A recorded response as a ``respond`` step, when the emulator would send the same events.

A response whose content a plan can say (text, audio with its transcript, function calls) and
whose event sequence the emulator repeats, given that plan (deltas aside: how many is the
service's choice), becomes one ``respond`` step with its audio as a fixture; the recorder keeps
any other response event by event.
"""

from __future__ import annotations

from typing import Any

from mock_server import audio
from mock_server.protocol import session_config
from mock_server.protocol.encoding import encoder_for
from mock_server.protocol.events import Dialect
from mock_server.protocol.formats import BYTES_PER_MS
from mock_server.record.filters import ga_name
from mock_server.responder import FunctionCallOutput, MessageOutput, Output, ResponsePlan
from mock_server.session import ServerEvent, Session, SessionOptions
from mock_server.timing import SPEECH_CHARS_PER_S

# A respond step, its plan, the response's settings and its audio fixtures.
PlannedResponse = tuple[dict[str, Any], ResponsePlan, dict[str, Any], dict[str, bytes]]


def format_of(value: Any) -> str:
    """The neutral name of a format given either way (GA object or beta string)."""
    if isinstance(value, dict):
        return session_config.format_name(value)
    if isinstance(value, str):
        return audio.format_name(value)
    return "pcm16"


def decode_audio(text: Any) -> bytes:
    """Recorded base64 audio; nothing where it is not base64."""
    try:
        return audio.decode_b64(str(text))
    except audio.AudioFormatError:
        return b""


def plan_response(
    events: list[dict[str, Any]], dialect: Dialect, stem: str, model_fixtures: int
) -> PlannedResponse | None:
    """The ``respond`` step of a response, its plan, settings and audio (named after
    ``stem``, numbered after the ``model_fixtures`` already made); None if it has no end or
    no content a plan can say."""
    created = next((e for e in events if e.get("type") == "response.created"), None)
    done = next((e for e in events if e.get("type") == "response.done"), None)
    if created is None or done is None:
        return None
    response = done.get("response") or {}
    start = created.get("response") or {}
    encoder = encoder_for(dialect)
    output_format = format_of(encoder.recorded_format(start))
    overrides = encoder.recorded_overrides(start, output_format)
    if start.get("conversation_id") is None:
        overrides["conversation"] = "none"
    if start.get("metadata") is not None:
        overrides["metadata"] = start["metadata"]
    sound: dict[str, bytearray] = {}
    for event in events:
        if ga_name(str(event.get("type"))) == "response.output_audio.delta":
            sound.setdefault(str(event.get("item_id")), bytearray()).extend(
                decode_audio(event.get("delta"))
            )
    items: list[dict[str, Any]] = []
    outputs: list[Output] = []
    fixtures: dict[str, bytes] = {}
    for item in response.get("output") or []:
        if item.get("type") == "function_call":
            call = {
                "name": item.get("name", ""),
                "arguments": item.get("arguments", ""),
                "call_id": item.get("call_id"),
            }
            items.append({"function_call": call})
            outputs.append(FunctionCallOutput(call["name"], call["arguments"], call["call_id"]))
            continue
        content = item.get("content") or []
        if item.get("type") != "message" or len(content) != 1:
            return None
        part = content[0]
        if "transcript" in part or part.get("type") in ("output_audio", "audio"):
            pcm = audio.from_format(bytes(sound.get(item.get("id", ""), b"")), output_format)
            number = model_fixtures + len(fixtures) + 1
            name = f"{stem}.model-{number}.wav"
            fixtures[name] = pcm
            items.append({"audio": name, "transcript": part.get("transcript") or ""})
            outputs.append(MessageOutput(part.get("transcript") or "", pcm))
        else:
            items.append({"text": part.get("text") or ""})
            outputs.append(MessageOutput(part.get("text") or ""))
    respond: dict[str, Any]
    if len(items) == 1:
        respond = dict(items[0])
    elif items and all("function_call" in i for i in items):
        respond = {"function_calls": [i["function_call"] for i in items]}
    else:
        respond = {"items": items}
    status = response.get("status", "completed")
    details = response.get("status_details") or {}
    if not items and status == "completed":
        return None
    if status != "completed":
        respond["status"] = status
    if details.get("reason"):
        respond["reason"] = details["reason"]
    if details.get("error"):
        respond["error"] = details["error"]
    if response.get("usage") is not None:
        respond["usage"] = response["usage"]
    plan = ResponsePlan(
        outputs,
        status,
        details.get("reason"),
        details.get("error"),
        response.get("usage"),
    )
    return respond, plan, overrides, fixtures


def shape(events: list[dict[str, Any]]) -> list[str]:
    """A response's event types without its deltas (how many deltas is the service's choice)."""
    return [
        ga_name(str(e.get("type"))) for e in events if not str(e.get("type", "")).endswith(".delta")
    ]


def is_standard(
    events: list[dict[str, Any]], plan: ResponsePlan, overrides: dict[str, Any], dialect: Dialect
) -> bool:
    """Whether the emulator, given ``plan``, sends the same sequence (deltas aside)."""
    session = Session(SessionOptions(dialect=dialect, pace=0.0, seed=0, max_duration_s=None))
    session.open(0.0)
    session.due(0.0)
    try:
        session.create_response(plan, overrides)
    except Exception:  # settings the emulator refuses: not a standard response
        return False
    made = [o.event for o in session.due(0.0) if isinstance(o, ServerEvent)]
    return shape(made) == shape(events)


def recorded_timing(
    timed: list[tuple[float, dict[str, Any]]],
    asked_at: float,
    transcribed_at: float | None,
    dialect: Dialect = Dialect.GA,
) -> dict[str, Any]:
    """The ``recorded`` timing of a response from its events' times (``timed``: seconds into
    the connection, in order): its latency after the request (``asked_at``: the client's
    ``response.create`` or the committed turn), to its first delta, its audio and text rates,
    and where the turn's input transcription landed (``transcribed_at``), for ``pace:
    recorded``.

    >>> events = [(1.2, {"type": "response.created"}), (1.5, {"type": "response.done"})]
    >>> recorded_timing(events, 1.0, None)
    {'first_event': 0.2}
    """
    start = next((e for _, e in timed if ga_name(str(e.get("type"))) == "response.created"), None)
    created = next((t for t, e in timed if ga_name(str(e.get("type"))) == "response.created"), None)
    done = next((t for t, e in timed if ga_name(str(e.get("type"))) == "response.done"), None)
    if created is None or start is None:
        return {}
    recorded_format = encoder_for(dialect).recorded_format(start.get("response") or {})
    bytes_per_s = BYTES_PER_MS[format_of(recorded_format)] * 1000
    out: dict[str, Any] = {"first_event": round(max(0.0, created - asked_at), 3)}
    deltas = [(t, e) for t, e in timed if str(e.get("type", "")).endswith(".delta")]
    if deltas:
        out["first_delta"] = round(max(0.0, deltas[0][0] - created), 3)
    sound = [(t, len(decode_audio(e.get("delta")))) for t, e in deltas if _is_audio(e)]
    if len(sound) > 1 and sound[-1][0] > sound[0][0]:
        # The audio before the last chunk went out in the time from the first chunk to it.
        played = sum(size for _, size in sound[:-1]) / bytes_per_s
        out["audio_rate"] = _rate(played / (sound[-1][0] - sound[0][0]))
    text = [(t, str(e.get("delta", ""))) for t, e in deltas if _is_text(e)]
    if len(text) > 1 and text[-1][0] > text[0][0]:
        spoken = sum(len(d) for _, d in text[:-1]) / SPEECH_CHARS_PER_S
        out["text_rate"] = _rate(spoken / (text[-1][0] - text[0][0]))
    if transcribed_at is not None:
        if transcribed_at < created:
            out["transcription"] = "before_response"
        elif not deltas or transcribed_at < deltas[0][0]:
            out["transcription"] = "after_created"
        elif done is None or transcribed_at < done:
            out["transcription"] = "after_first_delta"
        else:
            out["transcription"] = "after_done"
    return out


def _is_audio(event: dict[str, Any]) -> bool:
    return ga_name(str(event.get("type"))) == "response.output_audio.delta"


def _is_text(event: dict[str, Any]) -> bool:
    return ga_name(str(event.get("type"))) in (
        "response.output_text.delta",
        "response.function_call_arguments.delta",
    )


def _rate(value: float) -> float:
    """A rate the format accepts: above 0, at most 1000."""
    return min(1000.0, max(0.001, round(value, 3)))
