"""The matcher's settings (environment variables, read when a run starts; defaults in the docs)."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from include.core.errors import GenascopeError

#: The review threshold (match probability). Chosen from the project's evaluation (docs/identity.md).
DEFAULT_THRESHOLD = 0.9
#: Accounts with at least this many patients train their own model (EM); smaller ones use the default.
DEFAULT_MIN_TRAINING_PATIENTS = 50_000


class MatcherSettingsError(GenascopeError, ValueError):
    """A matcher setting has an unusable value (the message names the variable, never data)."""


def _env_float(name: str, default: float, lo: float, hi: float) -> float:
    raw = os.environ.get(name)
    if raw in (None, ""):
        return default
    try:
        value = float(raw)
    except ValueError:
        raise MatcherSettingsError(f"{name} must be a number between {lo} and {hi}") from None
    if not lo <= value <= hi:
        raise MatcherSettingsError(f"{name} must be between {lo} and {hi}")
    return value


@dataclass(frozen=True)
class MatcherSettings:
    threshold: float = DEFAULT_THRESHOLD
    memory_mb: int = 1536
    threads: int = 2
    min_training_patients: int = DEFAULT_MIN_TRAINING_PATIENTS
    work_root: Path | None = None  # None: the system's temporary directory

    @staticmethod
    def from_env() -> MatcherSettings:
        root = os.environ.get("GENASCOPE_MATCH_WORK_DIR")
        return MatcherSettings(
            threshold=_env_float("GENASCOPE_MATCH_THRESHOLD", DEFAULT_THRESHOLD, 0.01, 0.9999),
            memory_mb=int(_env_float("GENASCOPE_MATCH_MEMORY_MB", 1536, 256, 65536)),
            threads=int(_env_float("GENASCOPE_MATCH_THREADS", 2, 1, 64)),
            min_training_patients=int(_env_float("GENASCOPE_MATCH_MIN_TRAINING", DEFAULT_MIN_TRAINING_PATIENTS,
                                                 1000, 1e9)),
            work_root=Path(root) if root else None)
