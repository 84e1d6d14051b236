"""Benchmarks of the service-recovery engine: `python -m bench` (see docs/performance.md).

Everything runs against ONE Temporal dev server (SQLite file database in WAL mode) and ONE embedded
PostgreSQL that the benchmark starts itself, plus the time-skipping test server for figure (g).
"""
