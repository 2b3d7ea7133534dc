"""realtime-mock's harness: the command line, the pytest plugin, and (soon) the reference client
and the runner that drives third-party clients through scenarios."""
