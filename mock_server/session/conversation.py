"""A session's conversation: its items, the audio they hold, and the bounds on both.

Items are kept in the neutral (GA) form; the encoder renders them for the wire, and says which
events announce an item (GA ``conversation.item.added`` then ``.done``, beta ``.created``).
The client's items are bounded (:data:`MAX_CONVERSATION_ITEMS` and its siblings: past them an
item is refused), the audio of all items is capped (:data:`MAX_CONVERSATION_AUDIO_BYTES`: past
it the oldest items' audio is let go, as the live service truncates its context). The function
calls the model issued are tracked here too, so that a ``function_call_output`` for a call never
issued, or a reply asked for while calls await their output, is reported.

What a response's usage reads of the whole conversation (its text, the user's audio) is kept as
running totals (:meth:`Conversation.usage_totals`), so that a turn late in a long conversation
costs what an early one does. An item's contribution is counted again only when it may have
changed: when it joins, while the model streams it, when it is truncated or its audio is let go.
Code that changes an item's text or audio in any other way after the step that added it must
say so with :meth:`Conversation.changed`.
"""

from __future__ import annotations

import base64
import binascii
import math
from typing import Any

from mock_server.ids import IdFactory
from mock_server.protocol import items as item_codec
from mock_server.protocol.encoding import Encoder
from mock_server.protocol.errors import RealtimeError
from mock_server.protocol.formats import BYTES_PER_MS
from mock_server.session.context import Mistakes
from mock_server.session.outbox import Outbox
from mock_server.session.retrieval import retrieved

# The audio a conversation's items hold, both ways (46 min of PCM16, more than a 60-minute
# session's honest turns leave). Past it the oldest items' audio is let go, as the live
# service truncates the oldest turns out of the model's context; nothing is refused.
MAX_CONVERSATION_AUDIO_BYTES = 128 * 1024 * 1024
AUDIO_RELEASED = "conversation_audio_released"
# The conversation's size: items, their content parts, and the text they hold (what each
# response's usage reads and each item lookup walks). An hour-long conversation of honest
# turns holds a few thousand items; past a bound an item.create is refused
# (conversation_too_large) rather than letting a client grow the session without end.
MAX_CONVERSATION_ITEMS = 10_000
MAX_CONVERSATION_PARTS = 5_000
MAX_CONVERSATION_TEXT = 32 * 1024 * 1024

_ACTION_CODES = {"retrieving": "retrieve", "deleting": "delete", "truncating": "truncate"}
# Bytes of the user's audio per input token in a response's usage.
_INPUT_AUDIO_BYTES_PER_TOKEN = 4800


class Conversation:
    """The items of one session, in order, with their audio."""

    def __init__(self, outbox: Outbox, ids: IdFactory, mistakes: Mistakes) -> None:
        self.outbox = outbox
        self.encoder: Encoder = outbox.encoder
        # What the dialect calls conversation.item.added, looked up once.
        self._added_name = self.encoder.event_name(self.encoder.item_added_event)
        self.ids = ids
        self.mistakes = mistakes
        self.id = ""
        self.items: list[dict[str, Any]] = []
        self._by_id: dict[str, dict[str, Any]] = {}
        # The audio each item holds (client audio in, model audio out), oldest first.
        self.audio: dict[str, bytearray] = {}
        self.audio_held = 0  # bytes in audio, kept under MAX_CONVERSATION_AUDIO_BYTES
        self._item_format: dict[str, str] = {}  # output items' audio format, for truncate
        # The size of the items the client created (parts, characters), for the bounds; the
        # model's items are bounded by the reply's own limits.
        self._client_sizes: dict[str, tuple[int, int]] = {}
        self._client_parts = 0
        self._client_text = 0
        self.issued_calls: set[str] = set()
        self.pending_calls: dict[str, str] = {}  # call_id -> function name, awaiting output
        # Running totals for usage: each item's counted (characters of text, input audio
        # tokens), their sums, the items to count again before the totals are read, and the
        # model's items still streaming (counted again until they are done).
        self._counted: dict[str, tuple[int, int]] = {}
        self._text_chars = 0
        self._input_audio_tokens = 0
        self._unsettled: set[str] = set()
        self._streaming: set[str] = set()

    def last_id(self) -> str | None:
        return self.items[-1]["id"] if self.items else None

    def find(self, item_id: str) -> int | None:
        """The position of an item; searched from the end, where new items are."""
        if item_id not in self._by_id:
            return None
        for position in range(len(self.items) - 1, -1, -1):
            if self.items[position]["id"] == item_id:
                return position
        return None  # pragma: no cover - the index and the list move together

    def require(self, item_id: str, action: str) -> int:
        index = self.find(item_id)
        if index is None:
            raise RealtimeError(
                f"Error {action} item: the item with id '{item_id}' does not exist.",
                f"item_{_ACTION_CODES[action]}_invalid_item_id",
                "item_id",
            )
        return index

    # ---- adding -----------------------------------------------------------------------------

    def insert(
        self, item: dict[str, Any], previous_id: str | None, encoded: dict[str, Any] | None = None
    ) -> None:
        """Insert a complete item after ``previous_id`` (None: at the end; ``root``: first),
        announced with ``encoded`` (None: the encoder's encoding of it)."""
        if previous_id is None:
            position = len(self.items)
        elif previous_id == "root":
            position = 0
        else:
            found = self.find(previous_id)
            position = len(self.items) if found is None else found + 1
        self.items.insert(position, item)
        self._by_id[item["id"]] = item
        self._unsettled.add(item["id"])
        previous = self.items[position - 1]["id"] if position > 0 else None
        if encoded is None:
            encoded = self.encoder.item(item)
        added_name = self._added_name
        added = self.outbox.emit_as(
            added_name, {"type": added_name, "previous_item_id": previous, "item": encoded}
        )
        if self.encoder.item_done_event is not None:
            self.outbox.emit_sibling(added, self.encoder.item_done_event)

    def open_model_item(self, item: dict[str, Any]) -> None:
        """A reply's item joins the conversation as it starts streaming."""
        previous = self.last_id()
        self.items.append(item)
        self._by_id[item["id"]] = item
        self._unsettled.add(item["id"])
        self._streaming.add(item["id"])
        encoded = self.encoder.item(item)
        self.outbox.emit(
            {"type": self.encoder.item_added_event, "previous_item_id": previous, "item": encoded}
        )

    def close_model_item(self, item: dict[str, Any], encoded: dict[str, Any]) -> None:
        """A reply's item is complete (the dialects that say so, say so)."""
        self._streaming.discard(item["id"])
        self._unsettled.add(item["id"])
        if self.encoder.item_done_event is None:
            return
        position = self.find(item["id"])
        previous = self.items[position - 1]["id"] if position else None
        self.outbox.emit(
            {"type": self.encoder.item_done_event, "previous_item_id": previous, "item": encoded}
        )

    def model_audio(self, item_id: str, output_format: str) -> bytearray:
        """The store a reply's item's audio streams into."""
        self._item_format[item_id] = output_format
        return self.audio.setdefault(item_id, bytearray())

    def add_user_audio(self, item_id: str, audio: bytearray) -> dict[str, Any]:
        """A committed turn: its buffer becomes the item's audio (nothing is copied)."""
        previous = self.last_id()
        item = {
            "id": item_id,
            "object": "realtime.item",
            "type": "message",
            "status": "completed",
            "role": "user",
            "content": [{"type": "input_audio", "transcript": None}],
        }
        self.audio[item_id] = audio
        self.audio_added(item_id, len(audio))
        self.insert(item, previous)
        return item

    def create(self, event: dict[str, Any]) -> None:
        """A client's (validated) ``conversation.item.create``."""
        previous = event.get("previous_item_id")
        if previous is not None and previous != "root" and self.find(previous) is None:
            message = f"Error adding item: the previous item with id '{previous}' does not exist."
            raise RealtimeError(message, "invalid_value", "previous_item_id")
        item = self.encoder.item_from_client(event["item"], self.ids)
        if item.get("type") == "function_call_output":
            call_id = item.get("call_id", "")
            if call_id not in self.issued_calls:
                self.mistakes.find(
                    "unknown_call_id",
                    f"function_call_output for call_id {call_id!r}, which the model never "
                    f"issued (issued: {sorted(self.issued_calls) or 'none'})",
                    event.get("event_id"),
                )
            self.pending_calls.pop(call_id, None)
        if self.find(item["id"]) is not None:
            raise _duplicate(item["id"])
        if item.get("type") == "message" and item.get("role") == "assistant":
            parts = item.get("content") or []
            if any(part.get("type") == "output_audio" and part.get("audio") for part in parts):
                message = "Assistant messages cannot carry audio: use a text part."
                raise RealtimeError(message, "invalid_value", "item.content")
        size = self._check_room(item)
        for part in item.get("content") or []:
            if part.get("type") == "input_audio" and isinstance(part.get("audio"), str):
                try:
                    raw = base64.b64decode(part["audio"], validate=True)
                except (binascii.Error, ValueError) as exc:
                    message = "Invalid 'item.content.audio': expected base64-encoded audio bytes."
                    raise RealtimeError(message, "invalid_value", "item.content.audio") from exc
                self.audio.setdefault(item["id"], bytearray()).extend(raw)
                self.audio_added(item["id"], len(raw))
                part["audio"] = None
        self.insert(item, previous)
        self._client_sizes[item["id"]] = size
        self._client_parts += size[0]
        self._client_text += size[1]

    def create_user_text(self, item: dict[str, Any]) -> None:
        """:meth:`create` for a user message of text parts (``items.is_user_text_item``) at the
        end, the event clients send most after appends: the same item, events and transcript
        in fewer steps (``tests/mock_server/test_item_fast_path.py`` holds them equal).

        Nothing changes a user's text message once it is created (truncation is for the
        model's audio; a retrieval copies), so the item shares its content with the client's
        event and is itself the item its ``item.added`` (beta: ``item.created``) carries: the
        dialects' encodings of such an item are the item. Fewer containers a round trip, so
        less for the cyclic collector, which walks each one that lives on.
        """
        item_id = self.ids.new("item")
        if item_id in self._by_id:
            raise _duplicate(item_id)
        new = {**item, "id": item_id, **item_codec.CLIENT_ITEM_STATE}  # from_client's order
        content = new["content"]
        texts = [part["text"] for part in content if part["text"]]  # what text_of joins
        parts, text = len(content), sum(map(len, texts)) + len(texts) - 1 if texts else 0
        self._room_for(parts, text)
        self.insert(new, None, new)
        self._client_sizes[item_id] = (parts, text)
        self._client_parts += parts
        self._client_text += text

    def _check_room(self, item: dict[str, Any]) -> tuple[int, int]:
        """Refuse ``item`` if the conversation would outgrow its bounds (MAX_CONVERSATION_ITEMS
        and its siblings); else its size (parts, characters), which the caller counts in. The
        totals are kept as items come and go: the check costs the same in a long conversation."""
        return self._room_for(len(item.get("content") or []), len(item_codec.text_of(item)))

    def _room_for(self, parts: int, text: int) -> tuple[int, int]:
        """:meth:`_check_room` for an item of ``parts`` content parts and ``text`` characters."""
        if (
            len(self.items) < MAX_CONVERSATION_ITEMS
            and self._client_parts + parts <= MAX_CONVERSATION_PARTS
            and self._client_text + text <= MAX_CONVERSATION_TEXT
        ):
            return parts, text  # the usual case, without building the loop below
        for what, now, adds, bound in (
            ("items", len(self.items), 1, MAX_CONVERSATION_ITEMS),
            ("content parts", self._client_parts, parts, MAX_CONVERSATION_PARTS),
            ("characters of text", self._client_text, text, MAX_CONVERSATION_TEXT),
        ):
            if now + adds > bound:
                raise RealtimeError(
                    f"The conversation holds {now:,} {what}; this item would take it past "
                    f"{bound:,}, the most realtime-mock keeps in one session. Delete items "
                    "(conversation.item.delete) or start a new session.",
                    "conversation_too_large",
                    "item",
                )
        return parts, text

    def audio_added(self, item_id: str, size: int) -> None:
        """Count audio ``item_id`` took on; past the conversation's cap, let the oldest other
        items' audio go (they stay items: retrieve returns them without audio)."""
        self.audio_held += size
        if self.audio_held <= MAX_CONVERSATION_AUDIO_BYTES:
            return
        released = 0
        while self.audio_held > MAX_CONVERSATION_AUDIO_BYTES:
            oldest = iter(self.audio)
            victim = next(oldest, None)
            if victim == item_id:
                victim = next(oldest, None)
            if victim is None:
                break
            self.audio_held -= len(self.audio.pop(victim))
            self._unsettled.add(victim)
            released += 1
        self.mistakes.note_once(
            AUDIO_RELEASED,
            f"the conversation holds {MAX_CONVERSATION_AUDIO_BYTES} bytes of audio at most: "
            f"the audio of its {released} oldest item(s) was let go",
        )

    # ---- usage ------------------------------------------------------------------------------

    def changed(self, item_id: str) -> None:
        """``item_id``'s text or audio changed after the step that added it: count it again."""
        self._unsettled.add(item_id)

    def usage_totals(self) -> tuple[int, int]:
        """What a response's usage reads of the conversation: the length of all the items'
        text joined by spaces (:func:`item_codec.text_of` each), and the input audio tokens
        of the user's items' audio. Costs the items changed since the last call, not all."""
        for item_id in self._unsettled:
            item = self._by_id.get(item_id)
            if item is None:
                continue  # deleted, or a reply's item outside the conversation
            chars = len(item_codec.text_of(item))
            tokens = 0
            if item.get("role") == "user":
                held = len(self.audio.get(item_id, b""))
                tokens = math.ceil(held / _INPUT_AUDIO_BYTES_PER_TOKEN)
            counted_chars, counted_tokens = self._counted.get(item_id, (0, 0))
            self._text_chars += chars - counted_chars
            self._input_audio_tokens += tokens - counted_tokens
            self._counted[item_id] = (chars, tokens)
        self._unsettled = set(self._streaming)
        spaces = max(0, len(self.items) - 1)
        return self._text_chars + spaces, self._input_audio_tokens

    # ---- reading and changing -----------------------------------------------------------------

    def retrieve(self, item_id: str) -> None:
        item = self.items[self.require(item_id, "retrieving")]
        self.outbox.queue(*retrieved(self.encoder, self.ids, item, self.audio.get(item["id"])))

    def delete(self, item_id: str) -> None:
        item = self.items.pop(self.require(item_id, "deleting"))
        del self._by_id[item["id"]]
        chars, tokens = self._counted.pop(item["id"], (0, 0))
        self._text_chars -= chars
        self._input_audio_tokens -= tokens
        self._unsettled.discard(item["id"])
        self._streaming.discard(item["id"])
        parts, text = self._client_sizes.pop(item["id"], (0, 0))
        self._client_parts -= parts
        self._client_text -= text
        self.audio_held -= len(self.audio.pop(item["id"], b""))
        self._item_format.pop(item["id"], None)
        self.outbox.emit({"type": "conversation.item.deleted", "item_id": item["id"]})

    def truncate(self, event: dict[str, Any], output_format: str) -> None:
        """Cut an assistant item's audio at ``audio_end_ms`` (``output_format``: the session's,
        for an item whose own format is not known)."""
        item = self.items[self.require(event["item_id"], "truncating")]
        if item.get("role") != "assistant" or item.get("type") != "message":
            raise RealtimeError(
                "Only assistant messages can be truncated.", "invalid_value", "item_id"
            )
        content_index = event["content_index"]
        content = item.get("content") or []
        if not 0 <= content_index < len(content):
            raise RealtimeError(
                f"Content index {content_index} of item '{item['id']}' is not audio.",
                "invalid_value",
                "content_index",
            )
        audio = self.audio.get(item["id"], bytearray())
        if content[content_index].get("type") != "output_audio" or not audio:
            # The live service's answer to a text reply, and to a barge-in before the reply's
            # first audio frame (livekit/agents#6157).
            raise RealtimeError(
                "Only model output audio messages can be truncated", "unsupported_content_type"
            )
        # The item's own format: the session's may have changed since it was spoken.
        fmt = self._item_format.get(item["id"]) or output_format
        duration_ms = len(audio) / BYTES_PER_MS[fmt]
        end_ms = event["audio_end_ms"]
        if end_ms > duration_ms:
            # The live text and shape (no code, no param: pipecat#925, openai-agents#4122).
            raise RealtimeError(
                f"Audio content of {math.floor(duration_ms)}ms is already shorter than {end_ms}ms"
            )
        cut = int(end_ms * BYTES_PER_MS[fmt])
        self.audio_held -= max(0, len(audio) - cut)
        del audio[cut:]
        # Truncating removes the server-side transcript, so that the model's context holds no
        # text the user never heard.
        content[content_index]["transcript"] = None
        self._unsettled.add(item["id"])
        self.outbox.emit(
            {
                "type": "conversation.item.truncated",
                "item_id": item["id"],
                "content_index": content_index,
                "audio_end_ms": end_ms,
            }
        )


def _duplicate(item_id: str) -> RealtimeError:
    message = f"Error adding item: an item with id '{item_id}' already exists."
    return RealtimeError(message, "invalid_value", "item.id")
