"""What users would write instead of batchverify: small scripts on the official SDK and aiolimiter.

Each runs as its own process (so its CPU and peak memory are its own), reads the ``mobile`` column
of the benchmark CSV, and writes a JSON report of how every number ended.
"""
