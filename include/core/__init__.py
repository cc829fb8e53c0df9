"""The plumbing every area uses (migration, rollback, backfill, imports, benchmarks, demo).

* :mod:`include.core.settings` project-wide constants and paths (no I/O at import time).

Importing this package imports nothing: DAG files import from it while they are parsed.
"""
