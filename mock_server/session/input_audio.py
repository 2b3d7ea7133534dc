"""A session's input audio: the buffer, server VAD, the audio diagnostics and transcription.

Appended audio is decoded into one bounded buffer (:data:`MAX_INPUT_BUFFER_BYTES`) and checked
by :class:`~mock_server.diagnostics.InputAudioDiagnostics` (wrong rate, wrong format, clipping:
warnings for the verdict). With turn detection on, :class:`~mock_server.vad.ServerVad` reads
it: speech starts and stops (a start interrupts the reply in progress), a stop commits the turn
as a user item of the conversation and asks for a reply, and audio that can no longer become
part of a turn is let go.
"""

from __future__ import annotations

import binascii
from collections.abc import Callable
from typing import Any

from mock_server.diagnostics import InputAudioDiagnostics
from mock_server.ids import IdFactory
from mock_server.protocol import session_config
from mock_server.protocol.errors import RealtimeError
from mock_server.protocol.formats import BYTES_PER_MS
from mock_server.session.context import Mistakes
from mock_server.session.conversation import Conversation
from mock_server.session.outbox import Outbox
from mock_server.session.responses import Responses
from mock_server.session.script import Script
from mock_server.session.transcription import SpeakerTurns, transcription_events

MIN_COMMIT_MS = 100
MAX_APPEND_BYTES = 15 * 1024 * 1024
# The input audio buffer holds at most what one append may carry (327 s of PCM16, 33 min of
# G.711): a committed turn then never outgrows one event, and a session's buffer is bounded
# whatever the client streams. An append past it is refused (input_audio_buffer_full).
MAX_INPUT_BUFFER_BYTES = MAX_APPEND_BYTES


class InputAudio:
    """The client's audio on its way into the conversation."""

    def __init__(
        self,
        outbox: Outbox,
        ids: IdFactory,
        mistakes: Mistakes,
        conversation: Conversation,
        responses: Responses,
        config: Callable[[], dict[str, Any]],
        *,
        script: Script | None,
        transcriber: Callable[[bytes], str | None] | None,
    ) -> None:
        """``config`` is the session's current configuration; a committed turn's transcript is
        the ``script``'s, else the ``transcriber``'s (PCM16 in), else a placeholder. Speech
        interrupts the ``responses`` and a turn detected starts one, as the settings say."""
        self.outbox = outbox
        self.ids = ids
        self.mistakes = mistakes
        self.conversation = conversation
        self.responses = responses
        self._config = config
        self.script = script
        self.transcriber = transcriber
        self.buffer = bytearray()
        self.written_ms = 0.0
        self.diagnostics = InputAudioDiagnostics()
        self.vad: Any = None
        self.vad_item_id: str | None = None

    def format(self) -> str:
        return session_config.format_name(self._config()["audio"]["input"].get("format"))

    # ---- the buffer -----------------------------------------------------------------------

    def append(self, event: dict[str, Any], now: float) -> None:
        text = event["audio"]
        # Refused before it is decoded when its size alone says so: a client hammering a full
        # buffer with 15 MiB appends costs a length check each, not a decode.
        size = len(text) // 4 * 3 - text[-2:].count("=") if isinstance(text, str) else 0
        if len(self.buffer) + size > MAX_INPUT_BUFFER_BYTES >= size:
            self._refuse_full_buffer(size)
        try:
            # Strict decoding refuses what b64decode(validate=True) refuses, without its regex
            # pass over the whole text.
            chunk = binascii.a2b_base64(event["audio"], strict_mode=True)
        except (binascii.Error, ValueError) as exc:
            raise RealtimeError(
                f"Invalid 'audio': expected base64-encoded audio bytes ({exc}).",
                "invalid_value",
                "audio",
            ) from exc
        if len(chunk) > MAX_APPEND_BYTES:
            raise RealtimeError(
                f"Invalid 'audio': {len(chunk)} bytes is over the limit of "
                f"{MAX_APPEND_BYTES} bytes (15 MiB) per event.",
                "invalid_value",
                "audio",
            )
        if (
            "audio_in_text_only_session" not in self.mistakes.kinds
            and session_config.output_modalities(self._config()) == ["text"]
        ):
            self.mistakes.find(
                "audio_in_text_only_session",
                "input audio appended in a session whose output_modalities is ['text']",
                event.get("event_id"),
                severity="warning",
            )
        fmt = self.format()
        if len(self.buffer) + len(chunk) > MAX_INPUT_BUFFER_BYTES:
            self._refuse_full_buffer(len(chunk))
        self.mistakes.warn(self.diagnostics.on_append(chunk, fmt, now), event.get("event_id"))
        self.buffer.extend(chunk)
        self.written_ms += len(chunk) / BYTES_PER_MS[fmt]
        if self.outbox.transcript.input_audio is not None:
            self.outbox.transcript.keep_input_audio(self.to_pcm16(chunk))
        if self.vad is not None:
            self._feed_vad(chunk, fmt)
            if not self.vad.in_speech:
                self._drop_unspeakable_audio(fmt)

    def _refuse_full_buffer(self, size: int) -> None:
        fmt = self.format()
        raise RealtimeError(
            f"Error appending to input audio buffer: it holds {len(self.buffer)} bytes, "
            f"and {size} more would take it over its limit of {MAX_INPUT_BUFFER_BYTES} bytes "
            f"(15 MiB, {MAX_INPUT_BUFFER_BYTES / BYTES_PER_MS[fmt] / 1000:.0f} s of {fmt}). "
            "Commit or clear the buffer first; this audio was not added.",
            "input_audio_buffer_full",
            "audio",
        )

    def _drop_unspeakable_audio(self, fmt: str) -> None:
        """With server VAD and no speech going on, only the prefix padding and the audio that
        may still start speech can become part of a turn: older audio is let go, so that
        silence streamed all session does not fill the buffer (docs/protocol-notes.md)."""
        keep = round((self._prefix_padding_ms() + self.vad.undecided_ms) * BYTES_PER_MS[fmt])
        # Only once it is twice as long: one memmove of the kept tail per many appends.
        if len(self.buffer) > 2 * keep + 4800:
            del self.buffer[: len(self.buffer) - keep]

    def _prefix_padding_ms(self) -> int:
        return int(self.vad.config.prefix_padding_ms) if self.vad is not None else 0

    def commit(self) -> None:
        """The client's ``input_audio_buffer.commit``."""
        buffered_ms = len(self.buffer) / BYTES_PER_MS[self.format()]
        if buffered_ms < MIN_COMMIT_MS:
            raise RealtimeError(
                "Error committing input audio buffer: buffer too small. Expected at least "
                f"{MIN_COMMIT_MS}ms of audio, but buffer only has {buffered_ms:.2f}ms of audio.",
                "input_audio_buffer_commit_empty",
            )
        # A manual commit mid-speech ends the speech: its item is the one speech_started named.
        self.commit_buffer(self.interrupt_speech() or self.ids.new("item"))

    def commit_buffer(self, item_id: str, *, tail_bytes: int = 0) -> dict[str, Any]:
        """Commit the buffer as a user item; ``tail_bytes`` (a VAD turn: the audio after its
        ``audio_end_ms``, which the VAD has already counted as the next buffer's) stay."""
        # The buffer itself becomes the item's audio: a commit copies nothing, unless the
        # buffer's growth left it with more spare room than 1/32 of its audio (up to 1/8), which
        # the item would then hold for the rest of the session.
        if 0 < tail_bytes < len(self.buffer):
            audio = self.buffer[: len(self.buffer) - tail_bytes]
            del self.buffer[: len(audio)]
        else:
            audio, self.buffer = self.buffer, bytearray()
        if audio.__sizeof__() - len(audio) > len(audio) // 32 + 64:
            audio = bytearray(audio)
        self.mistakes.warn(self.diagnostics.on_commit(audio, self.format()), None)
        if self.vad is not None and not tail_bytes:
            # (A VAD turn with a tail: the VAD already reset itself at the turn's end and has
            # read the tail since; resetting would lose speech that started in it.)
            self.vad.reset()
        self.outbox.emit(
            {
                "type": "input_audio_buffer.committed",
                "previous_item_id": self.conversation.last_id(),
                "item_id": item_id,
            }
        )
        item = self.conversation.add_user_audio(item_id, audio)
        if self._config()["audio"]["input"].get("transcription"):
            self._transcribe_in_time(item, bytes(audio))
        return item

    def _transcribe_in_time(self, item: dict[str, Any], audio: bytes) -> None:
        """Transcribe the turn now (the model hears it), but send the events where the timing
        puts them (``Responses.hold_transcription``, mock_server.timing)."""
        held = self.responses.hold_transcription()
        before = item["content"][0].get("transcript")
        outbox, self.outbox = self.outbox, held
        try:
            self._transcribe(item, audio)
        finally:
            self.outbox = outbox
        held.keep(item, before)

    def clear(self) -> None:
        self.interrupt_speech()
        self.buffer = bytearray()  # a new one: the old one's memory goes at once
        self.outbox.emit({"type": "input_audio_buffer.cleared"})

    def timeout(self) -> None:
        """``idle_timeout_ms`` passed without speech: commit the (empty) audio."""
        item_id = self.ids.new("item")
        position = round(self.written_ms)
        self.outbox.emit(
            {
                "type": "input_audio_buffer.timeout_triggered",
                "item_id": item_id,
                "audio_start_ms": position,
                "audio_end_ms": position,
            }
        )
        self.commit_buffer(item_id)

    # ---- transcription --------------------------------------------------------------------

    def _transcribe(self, item: dict[str, Any], audio: bytes) -> None:
        given = self.script.transcribe(audio) if self.script is not None else None
        if given is None and self.transcriber is not None:
            given = self.transcriber(self.to_pcm16(audio))
        seconds = len(audio) / BYTES_PER_MS[self.format()] / 1000
        if given is None:
            given = f"[realtime-mock: untranscribed audio, {seconds:.1f} s]"
        if isinstance(given, SpeakerTurns):
            item["content"][0]["transcript"] = given.text
        elif not isinstance(given, RealtimeError):
            item["content"][0]["transcript"] = given
        config = self._config()
        settings = config["audio"]["input"].get("transcription") or {}
        for event in transcription_events(
            item["id"], given, seconds, settings, config.get("include")
        ):
            self.outbox.emit(event)

    def to_pcm16(self, audio: bytes) -> bytes:
        """Audio of the session's input format as PCM16 (what a transcriber hears)."""
        fmt = self.format()
        if fmt == "pcm16":
            return audio[: len(audio) // 2 * 2]
        from mock_server import audio as audio_module

        return audio_module.from_format(audio, fmt)

    # ---- server VAD -------------------------------------------------------------------------

    def interrupt_speech(self) -> str | None:
        """End the speech the VAD is in (docs/protocol-notes.md): ``speech_stopped`` for its
        item, so that no ``speech_started`` is left open; returns that item's id."""
        if self.vad is None:
            return None
        stopped = self.vad.interrupt()
        item_id, self.vad_item_id = self.vad_item_id, None
        if stopped is None or item_id is None:
            return None
        self.outbox.emit(
            {
                "type": "input_audio_buffer.speech_stopped",
                "audio_end_ms": stopped.audio_end_ms,
                "item_id": item_id,
            }
        )
        return item_id

    def configure_vad(self) -> None:
        """Follow the configuration's turn detection (a new VAD only when its settings change)."""
        turn = session_config.turn_detection(self._config())
        if turn is None:
            self.interrupt_speech()
            self.vad = None
            return
        from mock_server import vad as vad_module

        if turn.get("type") == "semantic_vad":
            cfg = vad_module.ServerVad.for_semantic(str(turn.get("eagerness", "auto")))
        else:
            cfg = vad_module.VadConfig(
                threshold=float(turn.get("threshold", 0.5)),
                prefix_padding_ms=int(turn.get("prefix_padding_ms", 300)),
                silence_duration_ms=int(turn.get("silence_duration_ms", 500)),
            )
        offset = round(self.written_ms)
        if self.vad is not None and self.vad.config == cfg:
            return
        self.interrupt_speech()
        buffered_ms = len(self.buffer) / BYTES_PER_MS[self.format()]
        self.vad = vad_module.ServerVad(
            cfg, offset_ms=offset, buffer_start_ms=max(0.0, self.written_ms - buffered_ms)
        )
        self.vad_item_id = None

    def _feed_vad(self, chunk: bytes, fmt: str) -> None:
        if fmt == "pcm16":
            pcm = chunk
        else:
            from mock_server import audio as audio_module

            pcm = audio_module.from_format(chunk, fmt)
        vad_events = self.vad.feed(pcm)
        if not vad_events:
            return  # the usual case, on every append: nothing more to look up
        from mock_server import vad as vad_module

        turn = session_config.turn_detection(self._config()) or {}
        for vad_event in vad_events:
            if isinstance(vad_event, vad_module.SpeechStarted):
                # The turn starts at audio_start_ms (the prefix padding included): nothing
                # before it goes to the model.
                keep_ms = self.vad.position_ms - vad_event.audio_start_ms
                keep = round(keep_ms * BYTES_PER_MS[fmt])
                if len(self.buffer) > keep:
                    del self.buffer[: len(self.buffer) - keep]
                self.vad_item_id = self.ids.new("item")
                self.outbox.emit(
                    {
                        "type": "input_audio_buffer.speech_started",
                        "audio_start_ms": vad_event.audio_start_ms,
                        "item_id": self.vad_item_id,
                    }
                )
                self.responses.idle_deadline = None
                if turn.get("interrupt_response", True):
                    self.responses.cancel_all("turn_detected", in_conversation_only=True)
            else:
                item_id = self.vad_item_id or self.ids.new("item")
                self.vad_item_id = None
                self.outbox.emit(
                    {
                        "type": "input_audio_buffer.speech_stopped",
                        "audio_end_ms": vad_event.audio_end_ms,
                        "item_id": item_id,
                    }
                )
                # The turn ends at audio_end_ms; audio after it (the rest of this chunk) stays
                # in the buffer for the next turn.
                tail_ms = self.vad.position_ms - vad_event.audio_end_ms
                self.commit_buffer(item_id, tail_bytes=round(tail_ms * BYTES_PER_MS[fmt]))
                if turn.get("create_response", True) and self._config().get("type") == "realtime":
                    self.responses.start({}, event_id=None)
