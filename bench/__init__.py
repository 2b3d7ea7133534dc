"""Benchmarks: each prints a ratio against a baseline measured in the same run.

Run them all with ``python -m bench``. They are not tests: nothing here asserts a time.
"""
