"""Isolation under attack (issue 13): no client, by frames within the limits, stalls another.

Each test runs one attack from the issue's list on one connection to a real server on
127.0.0.1, while a prober times ``GET /healthz`` and a bystander session does ordinary turns
(tests/mock_server/stress.py has the machinery and says where each part runs). The invariant
asserted for every attack:

- the attack adds less than 100 ms to the worst ``/healthz`` latency and to the bystander's worst
  wait for an event (against a baseline measured just before, on the same server);
- no connection closes with 1011, and every close code is one the docs name;
- every server frame is strict JSON (no ``NaN``, ``Infinity``);
- no ``server_error``, and the attacker's session still answers afterwards (unless the server
  closed it with a documented code);
- the traced memory is back to its baseline once every session has ended, and its peak during
  the attack stays proportional to what the attacker sent;
- and what the issue says of the attack itself (a ``speech_started`` gets its ``speech_stopped``,
  a deleted item streams nothing more, a cancelled call leaves no pending call).

The CI size shows each bug on the unfixed code (most as stalls of a second or more) and costs
little once it is fixed: an attack that stalls nothing takes about 2 s (warm-up, a 1 s
baseline, the attack, a tail), so the file takes about 40 s; before the fixes it took 75 to
100 s on 2 shared cores. ``REALTIME_MOCK_STRESS=long`` (or ``HYPOTHESIS_PROFILE=long``) runs
the sizes of the issue's report (minutes and gigabytes before the fixes; the appends alone are
600 MB, all kept in the transcript by design). ``REALTIME_MOCK_STRESS_REPORT=FILE`` appends
each attack's figures to FILE as JSON lines (BENCHMARKS.md "Isolation" was made from them).

A latency failure under 0.5 s is measured once more (a busy neighbour only ever adds delay; a
real stall repeats), so noise on a shared machine does not fail the suite.
"""

from __future__ import annotations

import base64
import json
import os
import re
from collections.abc import Callable
from dataclasses import asdict
from pathlib import Path
from typing import Any

import pytest

from mock_server import audio
from mock_server.server import Mount
from tests.helpers import WAIT, user_text
from tests.mock_server.stress import (
    ADDED_LATENCY_BOUND_S,
    DOCUMENTED_CLOSE_CODES,
    LONG,
    Attack,
    Attacker,
    Report,
    Target,
    measure,
)

ROOT = Path(__file__).resolve().parents[2]
ATTACKS: dict[str, tuple[Attack, Target]] = {}


def size(ci: int, long: int) -> int:
    return long if LONG else ci


def attack(name: str, **target: Any) -> Callable[[Attack], Attack]:
    def register(fn: Attack) -> Attack:
        ATTACKS[name] = (fn, Target(**target))
        return fn

    return register


def of_type(type_: str) -> Callable[[dict[str, Any]], bool]:
    return lambda e: e["type"] == type_


def answered(e: dict[str, Any]) -> bool:
    return e["type"] in ("response.done", "error")


def forced_tool(parameters: dict[str, Any], **session: Any) -> dict[str, Any]:
    return {
        "type": "session.update",
        "session": {
            "type": "realtime",
            "output_modalities": ["text"],
            "tools": [{"type": "function", "name": "f", "parameters": parameters}],
            "tool_choice": {"type": "function", "name": "f"},
            **session,
        },
    }


# ---- event-loop stalls and memory from small frames -------------------------------------------

OOB_FLOOD = size(80, 4000)
OOB_FRAME = '{"type":"response.create","response":{"conversation":"none"}}'


@attack("out_of_band_response_flood", mount=Mount(pace=1.0, seed=13))
async def out_of_band_flood(att: Attacker) -> None:
    # Spoken greetings at real-time pace: every response is still streaming when the next comes.
    for _ in range(OOB_FLOOD):
        await att.send(OOB_FRAME)
    await att.count(
        lambda e: e["type"] in ("response.created", "error"),
        OOB_FLOOD,
        "an answer to every response.create",
        timeout=60,
    )
    await att.until(of_type("response.output_audio.delta"), "audio", timeout=2)


SCHEMA_STRING = size(50_000, 2_000_000)
SCHEMA_ITEMS = size(4_000, 1_000_000)
SCHEMA_FANOUT = size(4, 10)
PATHOLOGICAL_SCHEMAS: dict[str, dict[str, Any]] = {
    "min_length": {
        "type": "object",
        "properties": {"s": {"type": "string", "minLength": SCHEMA_STRING}},
        "required": ["s"],
    },
    "min_items": {
        "type": "object",
        "properties": {
            "a": {"type": "array", "items": {"type": "string"}, "minItems": SCHEMA_ITEMS}
        },
        "required": ["a"],
    },
    # Every node refers to itself SCHEMA_FANOUT times: fan-out ** 6 values (a level of the
    # tree is two of the synthesis's 12 levels of depth: a $ref and a property).
    "ref_cycle": {
        "$ref": "#/$defs/node",
        "$defs": {
            "node": {
                "type": "object",
                "properties": {f"p{n}": {"$ref": "#/$defs/node"} for n in range(SCHEMA_FANOUT)},
            }
        },
    },
}


def pathological_schema(kind: str) -> Attack:
    async def run(att: Attacker) -> None:
        await att.send_event(forced_tool(PATHOLOGICAL_SCHEMAS[kind]))
        await att.until(lambda e: e["type"] in ("session.updated", "error"), "session.updated")
        await att.send_event({"type": "response.create"})
        await att.until(answered, "the forced call's response.done", timeout=60)

    return run


for _kind in PATHOLOGICAL_SCHEMAS:
    attack(f"pathological_tool_schema[{_kind}]", mount=Mount(pace=0.0, seed=13))(
        pathological_schema(_kind)
    )


LONG_TEXT_WORDS = size(1_000, 12_800)


@attack("long_user_text_placeholder_speech", mount=Mount(pace=1.0, seed=13))
async def long_user_text(att: Attacker) -> None:
    # The canned model echoes the text, spoken: the placeholder speech of every word.
    await att.send_event(user_text(" ".join(f"word{n % 97}" for n in range(LONG_TEXT_WORDS))))
    await att.send_event({"type": "response.create"})
    await att.until(
        lambda e: e["type"] in ("response.output_audio.delta", "error", "response.done"),
        "the first audio delta",
        timeout=60,
    )
    await att.send_event({"type": "response.cancel"})
    await att.until(answered, "response.done", timeout=30)


BIG_CONFIG_PROPERTIES = size(2_000, 100_000)
SMALL_UPDATES = size(30, 100)


async def load_large_config(att: Attacker) -> None:
    parameters = {
        "type": "object",
        "properties": {
            f"field_{n}": {"type": "string", "description": f"The field number {n}."}
            for n in range(BIG_CONFIG_PROPERTIES)
        },
    }
    await att.send_event(
        {
            "type": "session.update",
            "session": {
                "type": "realtime",
                "tools": [
                    {
                        "type": "function",
                        "name": "big",
                        "description": "A big tool.",
                        "parameters": parameters,
                    }
                ],
            },
        }
    )
    await att.until(lambda e: e["type"] in ("session.updated", "error"), "session.updated")


@attack("large_config_then_small_updates", mount=Mount(pace=0.0, seed=13))
async def large_config(att: Attacker) -> None:
    # Loading the big config is the setup (a big frame costs its size once, and is not timed);
    # each small update after it must cost what it says, not what the config holds.
    for n in range(SMALL_UPDATES):
        await att.send_event(
            {
                "type": "session.update",
                "session": {"type": "realtime", "instructions": f"Be brief {n}."},
            }
        )
        await att.count(
            lambda e: e["type"] in ("session.updated", "error"),
            n + 2,
            "the update's answer",
            timeout=30,
        )


large_config.setup = load_large_config  # type: ignore[attr-defined]


APPEND_BYTES = size(1024 * 1024, 15 * 1024 * 1024)
APPENDS = size(32, 40)
_SILENT_APPEND: list[str] = []


def silent_append(size: int = APPEND_BYTES) -> str:
    """An append of ``size`` bytes of silence (built once: building is not the attack)."""
    if len(_SILENT_APPEND) < 2:
        for each in (APPEND_BYTES, APPEND_BYTES // 2):
            audio_b64 = base64.b64encode(bytes(each)).decode()
            _SILENT_APPEND.append(
                json.dumps({"type": "input_audio_buffer.append", "audio": audio_b64})
            )
    return _SILENT_APPEND[0 if size == APPEND_BYTES else 1]


async def append_in_step(att: Attacker, frame: str, count: int, step: int) -> None:
    # A client that keeps in step with the server (a probe every few appends): what a burst of
    # queued heavy frames costs is not this attack's concern.
    for n in range(count):
        await att.send(frame)
        if n % step == step - 1:
            await att.alive()


@attack(
    "input_audio_buffer_growth[server_vad_silence]",
    mount=Mount(pace=0.0, seed=13),
    prepare=silent_append,
)
async def audio_growth_vad(att: Attacker) -> None:
    # The default GA session has server VAD on: silence is never committed, the buffer grows.
    # At the CI size this stays under any sane cap: it shows the isolation, not the missing
    # cap (README "Limits and safety" has the cap and its own test); the long size is the
    # issue's 40 appends of 15 MiB.
    await append_in_step(att, silent_append(APPEND_BYTES // 2), APPENDS // 2, step=1)


@attack(
    "input_audio_buffer_growth[vad_off_commit]",
    mount=Mount(pace=0.0, seed=13),
    prepare=silent_append,
)
async def audio_growth_commit(att: Attacker) -> None:
    await att.send_event(VAD_OFF)
    await append_in_step(att, silent_append(), APPENDS, step=4)
    await att.send_event({"type": "input_audio_buffer.commit"})
    await att.until(
        lambda e: e["type"] in ("input_audio_buffer.committed", "error"),
        "the commit's answer",
        timeout=60,
    )


VAD_OFF = {
    "type": "session.update",
    "session": {
        "type": "realtime",
        "output_modalities": ["text"],
        "audio": {"input": {"turn_detection": None}},
    },
}
RETRIEVED_BYTES = size(2 * 1024 * 1024, 15 * 1024 * 1024)
RETRIEVES = size(40, 30)


@attack("retrieve_amplification", mount=Mount(pace=0.0, seed=13))
async def retrieve_amplification(att: Attacker) -> None:
    await att.send_event(
        {
            "type": "conversation.item.create",
            "item": {
                "id": "item_big",
                "type": "message",
                "role": "user",
                "content": [
                    {
                        "type": "input_audio",
                        "audio": base64.b64encode(bytes(RETRIEVED_BYTES)).decode(),
                    }
                ],
            },
        }
    )
    await att.until(lambda e: e["type"] in ("conversation.item.done", "error"), "item.done")
    for n in range(RETRIEVES):
        # One at a time: the memory they leave held is the point, not a burst.
        await att.send('{"type":"conversation.item.retrieve","item_id":"item_big"}')
        await att.count(
            lambda e: e["type"] in ("conversation.item.retrieved", "error"),
            n + 1,
            "the retrieve's answer",
            timeout=30,
        )


def item_of_parts(count: int, text: str) -> str:
    """The frame of a user item of ``count`` text parts (built as text: it is large)."""
    part = json.dumps({"type": "input_text", "text": text})
    return (
        '{"type":"conversation.item.create","item":{"type":"message","role":"user",'
        f'"content":[{",".join([part] * count)}]}}}}'
    )


MANY_VALUES_FRAMES = size(6, 40)


@attack("many_values_in_one_frame", mount=Mount(pace=0.0, seed=13))
async def many_values(att: Attacker) -> None:
    # Small objects by the hundred thousand: a 2.6 MB frame parses and validates slowly (about
    # 4 us a value) though it is far under the frame limit.
    frame = item_of_parts(80_000, "x")
    for _ in range(MANY_VALUES_FRAMES):
        await att.send(frame)
        await att.alive()


CONVERSATION_ITEMS = size(40, 400)


@attack("conversation_growth", mount=Mount(pace=0.0, seed=13))
async def conversation_growth(att: Attacker) -> None:
    # Items of 250 parts each, until the conversation refuses more (its 5,000 parts): every
    # later event must still cost little (no walk of a conversation grown without bound). One
    # frame's own cost is the many_values attack's: this one's items are small.
    frame = item_of_parts(250, "xxxxxxxx")
    for _ in range(CONVERSATION_ITEMS // 10):
        for _ in range(10):
            await att.send(frame)
        await att.alive()
    await att.send_event({"type": "response.create"})
    await att.until(lambda e: e["type"] in ("response.done", "error"), "a response")


# ---- session crashes --------------------------------------------------------------------------

BIG_INT = "9" * 5000


@attack("big_integer", mount=Mount(pace=0.0, seed=13))
async def big_integer(att: Attacker) -> None:
    for frame in (
        '{"type":"response.create","event_id":"e1","response":{"max_output_tokens":%s}}',
        '{"type":"session.update","event_id":"e2","session":{"type":"realtime",'
        '"metadata":{"n":-%s}}}',
        "%s",
        '{"type":"conversation.item.retrieve","event_id":"e3","item_id":"x","n":%s}',
    ):
        await att.send(frame % BIG_INT)
        await att.alive()
    # Under 4,300 digits Python parses it, but it is too big for a float (validation's message).
    await att.send(
        '{"type":"response.create","event_id":"e4","response":{"max_output_tokens":-%s}}'
        % ("4" * 400)
    )
    await att.alive()


@attack("nan_and_infinity_tokens", mount=Mount(pace=0.0, seed=13))
async def nan_infinity(att: Attacker) -> None:
    for frame in (
        '{"type":"session.update","session":{"type":"realtime","audio":{"input":'
        '{"turn_detection":{"type":"server_vad","threshold":NaN}}}}}',
        '{"type":"session.update","session":{"type":"realtime","audio":{"input":'
        '{"turn_detection":{"type":"server_vad","silence_duration_ms":Infinity}}}}}',
        '{"type":"response.create","response":{"output_modalities":["text"],'
        '"metadata":{"k":-Infinity}}}',
        '{"type":"session.update","session":{"type":"realtime","max_output_tokens":Infinity}}',
        '{"type":"conversation.item.truncate","item_id":"x","content_index":0,"audio_end_ms":NaN}',
        '{"type":"session.update","session":{"type":"realtime","audio":{"output":{"speed":NaN}}}}',
    ):
        await att.send(frame)
        await att.alive()


@attack("threshold_null_then_updates", mount=Mount(pace=0.0, seed=13))
async def threshold_null(att: Attacker) -> None:
    await att.send(
        '{"type":"session.update","session":{"type":"realtime","audio":{"input":'
        '{"turn_detection":{"type":"server_vad","threshold":null}}}}}'
    )
    for n in range(3):
        await att.send_event(
            {
                "type": "session.update",
                "session": {"type": "realtime", "instructions": f"Update {n}."},
            }
        )
    await att.alive()


async def first_audio_delta(att: Attacker) -> dict[str, Any] | None:
    """Ask for a spoken reply and wait for its first audio delta (None: the connection closed)."""
    await att.send_event(user_text("Tell me about the weather in Paris, please."))
    await att.send_event({"type": "response.create"})
    return await att.until(of_type("response.output_audio.delta"), "the first audio delta")


@attack("truncate_streaming_audio", mount=Mount(pace=1.0, seed=13))
async def truncate_streaming(att: Attacker) -> None:
    delta = await first_audio_delta(att)
    if delta is None:
        return
    await att.send_event(
        {
            "type": "conversation.item.truncate",
            "item_id": delta["item_id"],
            "content_index": 0,
            "audio_end_ms": 0,
        }
    )
    await att.until(lambda e: e["type"] in ("conversation.item.truncated", "error"), "truncated")
    # A truncated item cannot grow: its response stops as a cancel would (docs/protocol-notes).
    done = await att.until(of_type("response.done"), "the truncated response's response.done")
    if done is not None and done["response.status"] != "cancelled":
        att.problems.append(f"the truncated response ended {done['response.status']!r}")
    await att.send_event({"type": "response.cancel"})
    await att.until(answered, "response.done")


@attack("idle_timeout_response", mount=Mount(pace=0.0, seed=13, time_scale=50))
async def idle_timeout(att: Attacker) -> None:
    # The idle timeout's response is built inside due(): a tool whose schema the canned model
    # cannot read raises there, outside the guard around client events.
    await att.send_event(
        forced_tool(
            {
                "type": "object",
                "properties": {
                    "a": {"type": "array", "items": {"type": "string"}, "minItems": "x"}
                },
            },
            tool_choice="required",
            audio={"input": {"turn_detection": {"type": "server_vad", "idle_timeout_ms": 5000}}},
        )
    )
    await att.send_event(user_text("Hello?"))
    await att.send_event({"type": "response.create", "response": {"tool_choice": "none"}})
    await att.until(answered, "the first response.done")
    # 5 s of idleness is 100 ms at time_scale 50.
    await att.until(
        lambda e: e["type"] == "input_audio_buffer.timeout_triggered",
        "timeout_triggered",
        timeout=5,
    )
    await att.count(answered, 2, "the idle response", timeout=5)


_QUESTION: list[bytes] = []


def question_pcm() -> bytes:
    if not _QUESTION:
        samples = audio.load_wav(ROOT / "fixtures" / "audio" / "question.wav")
        _QUESTION.append(audio.samples_to_pcm16(samples))
    return _QUESTION[0]


def appends(pcm: bytes, chunk_ms: int = 100) -> list[str]:
    return [
        json.dumps({"type": "input_audio_buffer.append", "audio": base64.b64encode(piece).decode()})
        for piece in audio.chunk(pcm, chunk_ms)
    ]


@attack("clear_during_speech", mount=Mount(pace=0.0, seed=13), prepare=question_pcm)
async def clear_during_speech(att: Attacker) -> None:
    pcm = question_pcm()
    for frame in appends(pcm[: 1000 * 48]):  # speech from 300 ms: started, not stopped
        await att.send(frame)
    await att.until(of_type("input_audio_buffer.speech_started"), "speech_started")
    await att.send_event({"type": "input_audio_buffer.clear"})
    await att.until(of_type("input_audio_buffer.cleared"), "cleared")
    for frame in appends(bytes(1500 * 48)):
        await att.send(frame)
    await att.alive()


def speech_balanced(log: list[dict[str, Any]], report: Report) -> list[str]:
    started = sum(1 for e in log if e["type"] == "input_audio_buffer.speech_started")
    stopped = sum(1 for e in log if e["type"] == "input_audio_buffer.speech_stopped")
    if started != stopped:
        return [f"{started} speech_started but {stopped} speech_stopped after clear and silence"]
    return []


clear_during_speech.oracle = speech_balanced  # type: ignore[attr-defined]


@attack("delete_item_being_generated", mount=Mount(pace=1.0, seed=13))
async def delete_generating(att: Attacker) -> None:
    delta = await first_audio_delta(att)
    if delta is None:
        return
    await att.send_event({"type": "conversation.item.delete", "item_id": delta["item_id"]})
    await att.until(lambda e: e["type"] in ("conversation.item.deleted", "error"), "deleted")
    # At real-time pace a chunk comes every 100 ms: 300 ms would show three more.
    await att.count(lambda e: e["type"] == "response.done", 1, "the response's end", timeout=0.3)
    att.problems[:] = [p for p in att.problems if "the response's end" not in p]
    await att.send_event({"type": "response.cancel"})
    await att.until(answered, "response.done")


def nothing_streams_after_delete(log: list[dict[str, Any]], report: Report) -> list[str]:
    deleted = next((n for n, e in enumerate(log) if e["type"] == "conversation.item.deleted"), None)
    if deleted is None:
        return []
    gone = log[deleted].get("item_id")
    late = [
        e["type"]
        for e in log[deleted + 1 :]
        if e["type"].endswith(".delta") and e.get("item_id") == gone
    ]
    return [f"{len(late)} deltas of the deleted item {gone} after its deletion"] if late else []


delete_generating.oracle = nothing_streams_after_delete  # type: ignore[attr-defined]


@attack("cancel_during_function_call", mount=Mount(pace=1.0, seed=13))
async def cancel_function_call(att: Attacker) -> None:
    await att.send_event(
        forced_tool(
            {
                "type": "object",
                "properties": {"city": {"type": "string", "minLength": 400}},
                "required": ["city"],
            }
        )
    )
    await att.send_event(user_text("What is the weather?"))
    await att.send_event({"type": "response.create"})
    await att.until(of_type("response.function_call_arguments.delta"), "the first argument delta")
    await att.send_event({"type": "response.cancel"})
    await att.until(answered, "the cancelled response.done")
    await att.send_event(user_text("Never mind."))
    await att.send_event({"type": "response.create", "response": {"tool_choice": "none"}})
    await att.count(of_type("response.done"), 2, "the second response.done")


def no_pending_call_after_cancel(log: list[dict[str, Any]], report: Report) -> list[str]:
    if "pending_function_call" in report.findings:
        return ["the verdict blames a pending_function_call for a call the client cancelled"]
    return []


cancel_function_call.oracle = no_pending_call_after_cancel  # type: ignore[attr-defined]


# ---- the tests --------------------------------------------------------------------------------


def _record(report: Report) -> None:
    path = os.environ.get("REALTIME_MOCK_STRESS_REPORT")
    if path:
        row = {
            "name": report.name,
            "long": LONG,
            **{k: v for k, v in asdict(report).items() if k != "name"},
        }
        with open(path, "a") as out:
            out.write(json.dumps(row) + "\n")


def _only_latency_noise(report: Report) -> bool:
    failures = report.failures()
    worst = max(report.added_healthz_s, report.added_bystander_s)
    return bool(failures) and all("added" in f for f in failures) and worst < 0.5


@pytest.mark.timeout(240 if LONG else 60)
@pytest.mark.parametrize("name", sorted(ATTACKS))
async def test_an_attack_on_one_connection_leaves_the_others_alone(name: str) -> None:
    run, target = ATTACKS[name]
    report = await measure(name, run, target)
    if _only_latency_noise(report):
        report = await measure(name, run, target)  # noise only ever adds delay
    _record(report)
    print(report.row())
    failures = report.failures()
    assert not failures, f"{report.row()}\n" + "\n".join(failures)


def test_the_close_codes_the_suite_accepts_are_the_documented_ones() -> None:
    docs = (ROOT / "README.md").read_text() + "".join(
        p.read_text() for p in sorted((ROOT / "docs").glob("*.md"))
    )
    for code in DOCUMENTED_CLOSE_CODES:
        if code == 1000:
            continue  # the client's own close, echoed
        assert re.search(rf"\b(?:close|closes|closed)\b[^.|]*\b{code}\b", docs), code
    assert ADDED_LATENCY_BOUND_S == 0.100  # the promise, not a tunable
    assert WAIT > ADDED_LATENCY_BOUND_S
