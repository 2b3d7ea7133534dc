"""Scenarios: YAML files that script what the model says and which faults happen.

:mod:`~mock_server.scenario.model` is the format, :mod:`~mock_server.scenario.loader` reads files
safely with line numbers for every problem, :mod:`~mock_server.scenario.matchers` and
:mod:`~mock_server.scenario.templating` are plain functions, :mod:`~mock_server.scenario.runner`
plays a scenario on a session, and :mod:`~mock_server.scenario.verdict` says how the client did.
"""
