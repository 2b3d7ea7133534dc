"""The old name of :mod:`mock_server.scenario.served`, kept while callers move to it.

:class:`ScenarioPlay` is a :class:`~mock_server.scenario.served.ServedScenario` whose
``verdict()`` is the verdict's dict form (``ScenarioVerdict.to_dict()``), as it was before the
verdict was typed: code that reads ``play.verdict()["ok"]`` or prints it as JSON keeps working.
New code uses ``ServedScenario`` and the typed verdict.
"""

from __future__ import annotations

from typing import Any

from mock_server.scenario.served import ServedScenario


class ScenarioPlay(ServedScenario):
    """A served scenario whose verdict is a dict (``ServedScenario.verdict().to_dict()``)."""

    def verdict(self) -> dict[str, Any]:  # type: ignore[override]
        return super().verdict().to_dict()
