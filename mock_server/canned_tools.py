"""Which tool the canned model calls on its own, and with what arguments.

With no scenario and ``tool_choice: auto``, the canned model (:mod:`mock_server.responder`)
calls a function tool when the user's last message names it, so that a real client pointed at
``realtime-mock serve`` sees its tools used. The rules are plain and deterministic:

- **Which tool.** The user's words are compared, lower-cased and with a plural ``s`` dropped,
  with each tool's *name parts* (``get_weather`` and ``getWeather`` both give ``get``,
  ``weather``; generic verbs such as ``get``, ``set``, ``list`` do not count) and the words of
  its *description* (four letters or more, common words left out). The tool with the most
  name-part matches wins, then the one with the most description matches, then the first
  listed. No match: no call (the canned model answers in words as before).
- **Its arguments** start as :func:`~mock_server.protocol.schema_values.example_for_schema`
  of its parameters (schema-valid: ``examples``, ``enum``, ``default``...). Then each
  top-level property takes a value from the user's words where one fits its schema:

  - a location-like string (``city``, ``location``, ``place``, ``country``...): the
    capitalised words after ``in``, ``at``, ``to``, ``from``, ``near`` or ``for``
    ("weather in New York" gives ``"New York"``), else the first capitalised words that do
    not start a sentence;
  - a query-like string (``query``, ``q``, ``text``, ``question``, ``prompt``...): the whole
    message;
  - another plain string: the first capitalised words not starting a sentence and not used
    by an earlier property (``"AAPL"``);
  - an ``enum``: a value the user said (``"celsius"``);
  - a plain integer or number: the first number the user said, if within its bounds.

  A value is only taken where it satisfies the property's schema (type, ``minLength`` /
  ``maxLength``, bounds; strings with a ``pattern`` or ``format`` keep the example).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from typing import Any

_WORD = re.compile(r"[A-Za-z0-9]+")
_CAMEL = re.compile(r"[A-Z]?[a-z0-9]+|[A-Z]+(?![a-z])")
# Runs of capitalised words ("New York"), with the character before them.
_CAPITALISED = re.compile(r"(^|[^\w'])([A-Z][\w'-]*(?:[ \t]+[A-Z][\w'-]*)*)")
_NUMBER = re.compile(r"(?<![\w.])-?\d+(?:\.\d+)?(?![\w.])")
_PREPOSITIONS = frozenset({"in", "at", "to", "from", "near", "for"})


def _word_set(words: str) -> frozenset[str]:
    return frozenset(words.split())


GENERIC_VERBS = _word_set(
    "get set list create update delete fetch find make do run call lookup look check "
    "add remove show send retrieve compute calculate read write put post handle tool "
    "function"
)
COMMON_WORDS = _word_set(
    "what with this that from have your about will when where which there their them "
    "they then than into some such only also more most other just like over very "
    "would could should been were does given returns return using used user users "
    "current information data details detail value values specified provided based name "
    "named the and for given tell please want need know"
)
LOCATION_NAMES = _word_set(
    "city location place town country region destination address area origin where state locality"
)
QUERY_NAMES = _word_set(
    "query q text question prompt message input search search_query keywords utterance"
)
MAX_VALUE_CHARS = 400


def _stem(word: str) -> str:
    word = word.lower()
    return word[:-1] if len(word) > 3 and word.endswith("s") and not word.endswith("ss") else word


def name_parts(name: str) -> set[str]:
    """The words of a tool's name that say what it is about.

    >>> sorted(name_parts("get_weather")), sorted(name_parts("getStockPrice"))
    (['weather'], ['price', 'stock'])
    """
    parts = {_stem(p) for piece in _WORD.findall(name) for p in _CAMEL.findall(piece)}
    return {p for p in parts if p not in GENERIC_VERBS and len(p) > 1}


def description_words(description: str) -> set[str]:
    words = {w.lower() for w in _WORD.findall(description) if len(w) >= 4}
    return {_stem(w) for w in words - COMMON_WORDS - GENERIC_VERBS}


def named_tool(said: str, tools: list[dict[str, Any]]) -> dict[str, Any] | None:
    """The function tool the user's words ``said`` name, by the module's rules, or None.

    >>> tools = [{"type": "function", "name": "get_time", "description": "The time now"},
    ...          {"type": "function", "name": "get_weather", "description": "Forecast"}]
    >>> named_tool("What's the weather in Paris?", tools)["name"]
    'get_weather'
    >>> named_tool("Hello there", tools) is None
    True
    """
    heard = {_stem(w) for w in _WORD.findall(said)}
    best: tuple[int, int] = (0, 0)
    chosen = None
    for tool in tools:
        if tool.get("type", "function") != "function" or not isinstance(tool.get("name"), str):
            continue
        score = (
            len(name_parts(tool["name"]) & heard),
            len(description_words(str(tool.get("description") or "")) & heard),
        )
        if score > best:
            best, chosen = score, tool
    return chosen


def _capitalised_runs(said: str) -> list[tuple[str, str]]:
    """Each run of capitalised words with the word before it ('' at a sentence's start)."""
    runs = []
    for match in _CAPITALISED.finditer(said):
        before_text = said[: match.start(2)].rstrip()
        if not before_text or before_text[-1] in ".!?":
            words = match.group(2).split()
            if len(words) == 1 or words[0] == "I":
                continue  # a sentence's first word is capitalised anyway
            run, before = " ".join(words[1:]), words[0].lower()
        else:
            run, before = match.group(2), (_WORD.findall(before_text) or [""])[-1].lower()
        if run != "I":
            runs.append((run, before))
    return runs


def _fits_string(schema: Mapping[str, Any], value: str) -> bool:
    if schema.get("type") != "string" or any(
        k in schema for k in ("enum", "const", "pattern", "format", "anyOf", "oneOf", "allOf")
    ):
        return False
    low, high = schema.get("minLength", 0), schema.get("maxLength", MAX_VALUE_CHARS)
    return isinstance(low, int) and isinstance(high, int) and low <= len(value) <= high


def _fits_number(schema: Mapping[str, Any], value: float) -> bool:
    holds: Callable[[float], bool]
    kind = schema.get("type")
    if kind not in ("integer", "number") or "enum" in schema or "multipleOf" in schema:
        return False
    if kind == "integer" and value != int(value):
        return False
    checks = (
        ("minimum", lambda bound: value >= bound),
        ("maximum", lambda bound: value <= bound),
        ("exclusiveMinimum", lambda bound: value > bound),
        ("exclusiveMaximum", lambda bound: value < bound),
    )
    for key, holds in checks:
        bound = schema.get(key)
        if isinstance(bound, int | float) and not isinstance(bound, bool) and not holds(bound):
            return False
    return True


def arguments_from_words(
    said: str, parameters: Mapping[str, Any], base: dict[str, Any]
) -> dict[str, Any]:
    """``base`` (the schema's example arguments) with the values the user's words give.

    >>> params = {"type": "object", "properties": {"city": {"type": "string"}}}
    >>> arguments_from_words("What's the weather in Paris?", params, {"city": "example"})
    {'city': 'Paris'}
    """
    properties = parameters.get("properties")
    if not isinstance(properties, Mapping):
        return base
    out = dict(base)
    runs = _capitalised_runs(said)
    used: set[str] = set()
    numbers = [float(n) for n in _NUMBER.findall(said)]
    heard = {w.lower() for w in _WORD.findall(said)}
    for name, schema in properties.items():
        if not isinstance(schema, Mapping):
            continue
        value = _value_for(str(name).lower(), schema, said, runs, used, numbers, heard)
        if value is not None:
            out[name] = value
    return out


def _value_for(
    name: str,
    schema: Mapping[str, Any],
    said: str,
    runs: list[tuple[str, str]],
    used: set[str],
    numbers: list[float],
    heard: set[str],
) -> Any:
    enum = schema.get("enum")
    if isinstance(enum, list):
        return next((v for v in enum if isinstance(v, str) and v.lower() in heard), None)
    if schema.get("type") in ("integer", "number"):
        for number in numbers:
            value: Any = int(number) if schema.get("type") == "integer" else number
            if _fits_number(schema, number):
                return value
        return None
    candidate: str | None = None
    if name in QUERY_NAMES or name.endswith("_query"):
        candidate = said.strip()[:MAX_VALUE_CHARS]
    else:
        fresh = [(run, before) for run, before in runs if run not in used]
        if name in LOCATION_NAMES or any(part in LOCATION_NAMES for part in name.split("_")):
            candidate = next((r for r, before in fresh if before in _PREPOSITIONS), None)
        if candidate is None and fresh:
            candidate = fresh[0][0]
    if candidate is None or not _fits_string(schema, candidate):
        return None
    used.add(candidate)
    return candidate


__all__ = ["arguments_from_words", "named_tool"]
