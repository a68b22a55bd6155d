"""Benchmark scripts (run them as scripts: `python benchmarks/chaos.py`, see README.md).

A package only so that the test suite can import the chaos run's harness as
`benchmarks.chaos_harness` (`tests/test_chaos.py`).
"""
