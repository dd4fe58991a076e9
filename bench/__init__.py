"""Benchmarks: each prints a table and ratios against baselines measured in the same run."""
