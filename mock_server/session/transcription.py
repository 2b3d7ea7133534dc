"""The events that report one committed turn's input transcription, as the live service sends
them for the session's transcription model.

A pure function of the transcript, the turn's length and the session's settings
(:func:`transcription_events`): ``input_audio.py`` decides what was said (the scenario, the
fingerprint transcriber, or a placeholder) and sends what this module makes of it.

- Deltas: word by word (each word with the space before it, so that they join into the
  transcript), for the ``gpt-4o-*`` models; ``whisper`` models, which do not stream, send the
  whole transcript in one delta. At most :data:`MAX_DELTAS` deltas: the last carries the rest.
- ``logprobs`` on each delta and on ``.completed`` when the session's ``include`` lists
  :data:`LOGPROBS_INCLUDE` and the model gives them (not ``whisper``, not the diarising model):
  one entry per word, ``logprob`` :data:`WORD_LOGPROB`.
- ``usage``: ``{type: "duration", seconds}`` for ``whisper`` models; otherwise tokens: 10 audio
  tokens per second of audio, the prompt's text tokens, one output token per word.
- A diarising model (:data:`DIARIZING_MODELS`) sends a ``.segment`` after each segment's
  deltas: the scenario's speakers (:class:`SpeakerTurns`), else one per sentence, all speaker
  ``A``; times spread over the audio by characters.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from typing import Any

from mock_server.protocol.errors import RealtimeError

LOGPROBS_INCLUDE = "item.input_audio_transcription.logprobs"
DIARIZING_MODELS = frozenset({"gpt-4o-transcribe-diarize"})
MAX_DELTAS = 500
WORD_LOGPROB = -0.01
AUDIO_TOKENS_PER_SECOND = 10
SPEAKER = "A"


@dataclass(frozen=True)
class SpeakerTurns:
    """A transcript told by speaker: ``(speaker, text)`` pairs, in order (a scenario's
    ``segments``). A diarising model reports each as a segment; other models, the text."""

    segments: tuple[tuple[str, str], ...]

    @property
    def text(self) -> str:
        return " ".join(text for _, text in self.segments)


Transcribed = str | SpeakerTurns

_WORDS = re.compile(r"\s*\S+|\s+$")
_SENTENCE_END = re.compile(r"[.!?]$")


def is_duration_billed(model: str) -> bool:
    """Whether ``model`` bills transcription by audio duration (``whisper`` models)."""
    return "whisper" in model


def words(text: str) -> list[str]:
    """``text`` cut into its words, each with the whitespace before it (they join into it).

    >>> words("Hello there, world.")
    ['Hello', ' there,', ' world.']
    """
    return _WORDS.findall(text) or [text]


def _logprobs(tokens: list[str]) -> list[dict[str, Any]]:
    return [{"token": t, "bytes": list(t.encode("utf-8")), "logprob": WORD_LOGPROB} for t in tokens]


def _speakers(given: Transcribed, tokens: list[str]) -> list[tuple[str, list[str]]]:
    """The transcript's speakers and their words: the given ones, else one speaker per
    sentence (the mock cannot tell voices apart)."""
    if isinstance(given, SpeakerTurns):
        return [
            (speaker, words(text if index == 0 else " " + text))
            for index, (speaker, text) in enumerate(given.segments)
        ]
    return [(SPEAKER, sentence) for sentence in _sentences(tokens)]


def _sentences(tokens: list[str]) -> list[list[str]]:
    out: list[list[str]] = [[]]
    for token in tokens:
        out[-1].append(token)
        if _SENTENCE_END.search(token):
            out.append([])
    return [s for s in out if s]


def _bounded(tokens: list[str], limit: int = MAX_DELTAS) -> list[str]:
    if len(tokens) <= limit:
        return tokens
    return [*tokens[: limit - 1], "".join(tokens[limit - 1 :])]


def transcription_events(
    item_id: str,
    given: Transcribed | RealtimeError,
    seconds: float,
    transcription: dict[str, Any],
    include: list[str] | None,
) -> list[dict[str, Any]]:
    """The events (without ``event_id``) reporting ``given`` for item ``item_id``, whose audio
    lasts ``seconds``, with the session's ``transcription`` settings and ``include``.

    >>> events = transcription_events("item_1", "Hi there.", 1.0, {"model": "whisper-1"}, None)
    >>> [e["type"].rsplit(".", 1)[1] for e in events], events[-1]["usage"]
    (['delta', 'completed'], {'type': 'duration', 'seconds': 1.0})
    """
    head = {"item_id": item_id, "content_index": 0}
    prefix = "conversation.item.input_audio_transcription."
    if isinstance(given, RealtimeError):
        error = {
            "type": given.type,
            "code": given.code,
            "message": given.message,
            "param": given.param,
        }
        return [{"type": prefix + "failed", **head, "error": error}]
    model = str(transcription.get("model") or "whisper-1")
    duration_billed = is_duration_billed(model)
    diarizing = model in DIARIZING_MODELS
    with_logprobs = LOGPROBS_INCLUDE in (include or []) and not duration_billed and not diarizing
    text = given.text if isinstance(given, SpeakerTurns) else given
    tokens = [text] if duration_billed else _bounded(words(text))
    events: list[dict[str, Any]] = []
    groups = _speakers(given, tokens) if diarizing else [(SPEAKER, tokens)]
    total_chars = max(1, len(text))
    done_chars = 0
    # Each segment's share of the deltas: a scenario's segments are bounded in number.
    share = max(1, MAX_DELTAS // max(1, len(groups)))
    for index, (speaker, group) in enumerate(groups):
        for token in _bounded(group, share):
            delta: dict[str, Any] = {"type": prefix + "delta", **head, "delta": token}
            if with_logprobs:
                delta["logprobs"] = _logprobs([token])
            events.append(delta)
        if diarizing:
            said = "".join(group)
            start = seconds * done_chars / total_chars
            done_chars += len(said)
            events.append(
                {
                    "type": prefix + "segment",
                    **head,
                    "id": f"seg_{index:04d}",
                    "text": said.strip(),
                    "speaker": speaker,
                    "start": round(start, 3),
                    "end": round(seconds * min(1.0, done_chars / total_chars), 3),
                }
            )
    completed: dict[str, Any] = {
        "type": prefix + "completed",
        **head,
        "transcript": text,
        "usage": _usage(model, seconds, transcription, len(tokens) if text else 0),
    }
    if with_logprobs:
        completed["logprobs"] = _logprobs(tokens)
    events.append(completed)
    return events


def _usage(
    model: str, seconds: float, transcription: dict[str, Any], output_tokens: int
) -> dict[str, Any]:
    if is_duration_billed(model):
        return {"type": "duration", "seconds": round(seconds, 3)}
    prompt = str(transcription.get("prompt") or "")
    text_tokens = math.ceil(len(prompt) / 4)
    audio_tokens = math.ceil(seconds * AUDIO_TOKENS_PER_SECOND)
    return {
        "type": "tokens",
        "input_tokens": audio_tokens + text_tokens,
        "output_tokens": output_tokens,
        "total_tokens": audio_tokens + text_tokens + output_tokens,
        "input_token_details": {"audio_tokens": audio_tokens, "text_tokens": text_tokens},
    }


__all__ = ["LOGPROBS_INCLUDE", "SpeakerTurns", "Transcribed", "transcription_events", "words"]
