"""Data-quality gates between the migration's steps (SQL rules, legacy checksums, counts, Great Expectations)."""

from include.gates.results import GateResult, gate_failed

__all__ = ["GateResult", "gate_failed"]
