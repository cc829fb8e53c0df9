"""What a gate returns: the rule, pass/fail, how many rows broke it and which ids (never values)."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field

from include.core.errors import GateFailed


@dataclass(frozen=True)
class GateResult:
    rule: str
    passed: bool
    violations: int
    sample_ids: list[str] = field(default_factory=list)
    detail: str = ""

    def as_dict(self) -> dict:
        return asdict(self)

    def summary(self) -> str:
        if self.passed:
            return f"gate {self.rule}: passed"
        ids = ", ".join(self.sample_ids[:20])
        more = f" (first {min(20, len(self.sample_ids))} ids: {ids})" if ids else ""
        return f"gate {self.rule}: FAILED, {self.violations} rows{more}. {self.detail}".strip()


def gate_failed(results: list[GateResult]) -> GateFailed:
    """The error for failed rules: names each failed rule, its row count and ids only."""
    return GateFailed("; ".join(r.summary() for r in results if not r.passed), results)
