"""Scenarios: YAML files that script what the model says and which faults happen.

:mod:`~mock_server.scenario.model` is the format (its steps in
:mod:`~mock_server.scenario.steps`, its base and bounds in :mod:`~mock_server.scenario.bounds`);
:mod:`~mock_server.scenario.loader` reads files safely with line numbers for every problem
(:mod:`~mock_server.scenario.yaml_source`, :mod:`~mock_server.scenario.fixtures`);
:mod:`~mock_server.scenario.matchers` and :mod:`~mock_server.scenario.templating` are plain
functions; :mod:`~mock_server.scenario.runner` plays a scenario on a session (its steps compiled
by :mod:`~mock_server.scenario.compile`, its rules in :mod:`~mock_server.scenario.rules`, its
faults performed by :mod:`~mock_server.scenario.actions`);
:mod:`~mock_server.scenario.served` serves it on every connection of a mount; and
:mod:`~mock_server.scenario.verdict` says, typed, how the client did.
"""
