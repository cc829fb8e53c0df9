"""Data-quality gates between the migration's steps (SQL rules, legacy checksums, counts, Great Expectations)."""

from include.gates.results import GateFailed, GateResult

__all__ = ["GateFailed", "GateResult"]
