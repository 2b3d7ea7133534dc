"""realtime-mock's harness: the command line, the pytest plugin and its mock
(:mod:`harness.mock`), the reference client, and the runner that drives third-party clients
through scenarios.

Kept empty of imports: the pytest plugin is imported by every pytest run in a venv where the
package is installed, and must cost nothing until a test uses it.
"""
