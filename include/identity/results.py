"""Typed results of the matcher (ids, counts, threshold and model name only: what logs and reports hold)."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any


@dataclass(frozen=True)
class DecisionMetrics:
    """The current threshold judged against every decided pair so far (merged = same, kept separate = not)."""

    true_positive: int
    false_positive: int
    false_negative: int
    true_negative: int

    @property
    def precision(self) -> float | None:
        n = self.true_positive + self.false_positive
        return round(self.true_positive / n, 4) if n else None

    @property
    def recall(self) -> float | None:
        n = self.true_positive + self.false_negative
        return round(self.true_positive / n, 4) if n else None

    def as_dict(self) -> dict[str, Any]:
        return {**asdict(self), "precision": self.precision, "recall": self.recall,
                "decided_pairs": self.true_positive + self.false_positive + self.false_negative + self.true_negative}


@dataclass
class MatchRunResult:
    """One account's pass."""

    match_run_id: int
    account_id: str
    mode: str  # full | incremental
    trigger: str  # night | backfill | on_demand
    model_name: str
    trained: bool
    threshold: float
    patients: int
    new_patients: int
    pairs_by_rule: dict[str, int]
    pairs_scored: int
    above_threshold: int
    queued: int
    already_open: int
    suppressed_decided: int
    seconds: float
    queue_by_kind: dict[str, dict[str, int]] = field(default_factory=dict)
    decisions: DecisionMetrics | None = None
    status: str = "done"

    def as_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["decisions"] = self.decisions.as_dict() if self.decisions else None
        return d


@dataclass
class MatchReport:
    """Several accounts (a night, a backfill, an on-demand run)."""

    trigger: str
    runs: list[MatchRunResult] = field(default_factory=list)
    skipped: dict[str, str] = field(default_factory=dict)  # account -> reason code

    def as_dict(self) -> dict[str, Any]:
        return {"trigger": self.trigger, "accounts": len(self.runs),
                "queued": sum(r.queued for r in self.runs),
                "runs": [r.as_dict() for r in self.runs], "skipped": self.skipped}
