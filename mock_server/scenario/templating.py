"""Templating of raw ``send`` events: substitution only, never evaluation.

``{{ name }}`` is replaced by a captured value; ``{{ new.item_id }}`` (and ``new.call_id``,
``new.response_id``, ``new.event_id``) by a freshly generated id with the right prefix;
``{{ braces }}`` is a literal ``{{`` (recorded text that holds one is written so). A string
that is exactly one placeholder takes the value's own type. Nothing else is understood: no
expressions, attributes, filters or environment; an unknown name is an error that names it.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from typing import Any

PLACEHOLDER = re.compile(r"\{\{\s*([A-Za-z_][A-Za-z0-9_]*(?:\.[A-Za-z_][A-Za-z0-9_]*)?)\s*\}\}")
ANY_BRACES = re.compile(r"\{\{(.*?)\}\}")
NEW_IDS = {"item_id": "item", "call_id": "call", "response_id": "resp", "event_id": "event"}
LITERAL_BRACES = "braces"


def escape(text: str) -> str:
    """``text`` as a template that renders to itself.

    >>> escape("a {{ b }}")
    'a {{ braces }} b }}'
    >>> render(escape("a {{ b }}"), {}, str)
    'a {{ b }}'
    """
    return text.replace("{{", "{{ " + LITERAL_BRACES + " }}")


class TemplateError(ValueError):
    """A placeholder that is not a known name."""


def render(value: Any, names: Mapping[str, Any], new_id: Callable[[str], str]) -> Any:
    """``value`` with its placeholders substituted.

    >>> render({"call_id": "{{ call }}"}, {"call": "call_1"}, lambda kind: kind + "_new")
    {'call_id': 'call_1'}
    """
    if isinstance(value, dict):
        return {k: render(v, names, new_id) for k, v in value.items()}
    if isinstance(value, list):
        return [render(v, names, new_id) for v in value]
    if not isinstance(value, str) or "{{" not in value:
        return value
    for body in ANY_BRACES.findall(value):
        if not PLACEHOLDER.fullmatch("{{" + body + "}}"):
            raise TemplateError(
                f"'{{{{{body}}}}}' is not a placeholder: only names like {{{{ call_id }}}} or "
                "{{ new.item_id }} are substituted (no expressions)"
            )

    def lookup(name: str) -> Any:
        if name == LITERAL_BRACES:
            return "{{"
        if name.startswith("new."):
            kind = NEW_IDS.get(name[4:])
            if kind is None:
                raise TemplateError(f"unknown generator {name!r}: use new.{', new.'.join(NEW_IDS)}")
            return new_id(kind)
        if name not in names:
            known = ", ".join(sorted(names)) or "none captured yet"
            raise TemplateError(f"unknown name {name!r} in template (known: {known})")
        return names[name]

    whole = PLACEHOLDER.fullmatch(value.strip())
    if whole:
        return lookup(whole.group(1))
    return PLACEHOLDER.sub(lambda m: str(lookup(m.group(1))), value)
