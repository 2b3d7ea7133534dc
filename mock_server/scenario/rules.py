"""Rules: what fires for a client event at any time, whatever step the script is at.

:func:`event_matches` is the one test of a client event against an ``expect`` or ``when``
spec (its templates rendered with the captures so far); :class:`RuleBook` counts occurrences
for ``after`` and ``count``. The scenario runner and the pass-through relay both use them.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from mock_server.scenario.matchers import match
from mock_server.scenario.model import EventMatch, Rule
from mock_server.scenario.templating import render


def event_matches(
    spec: EventMatch,
    event: dict[str, Any],
    names: dict[str, Any],
    new_id: Callable[[str], str],
) -> bool:
    """Whether ``event`` has the spec's type and fields (its templates rendered with
    ``names``); raises :class:`TemplateError` for a bad placeholder."""
    if event.get("type") != spec.type:
        return False
    return not match(render(spec.match, names, new_id), event)


class RuleBook:
    """Which rules fire for each client event, counting occurrences for ``after`` and
    ``count`` (the scenario runner and the pass-through relay both use it)."""

    def __init__(self, rules: list[Rule]) -> None:
        self.rules = rules
        self._seen = [0] * len(rules)
        self._fired = [0] * len(rules)

    def firing(
        self, event: dict[str, Any], matches: Callable[[EventMatch, dict[str, Any]], bool]
    ) -> list[Rule]:
        fired = []
        for index, rule in enumerate(self.rules):
            if not matches(rule.when, event):
                continue
            self._seen[index] += 1
            if self._seen[index] <= rule.when.after:
                continue
            if rule.when.count is not None and self._fired[index] >= rule.when.count:
                continue
            self._fired[index] += 1
            fired.append(rule)
        return fired


__all__ = ["RuleBook", "event_matches"]
