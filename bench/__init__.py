"""Benchmarks of the assistant on this machine: turn latency, HTTP round trip, cold start, ingest and
growth with real distractor documents. Scripts, never timed tests: each prints medians and ratios
against a baseline measured in the same process, and records its numbers in bench/results.md.

Run all the cheap parts with ``python -m bench``; each part also runs alone (``python -m bench.turn``).
"""
