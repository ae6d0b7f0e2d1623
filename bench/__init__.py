"""Benchmarks of batchverify against the local simulator (``make bench``; see bench/run.py).

Benchmarks are not tests: nothing here runs under ``make test``.
"""
