"""Benchmarks: each prints a table and writes its figures, with the machine, as JSON."""
