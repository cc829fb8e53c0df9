"""How long the pipeline keeps PHI it no longer needs: the Airflow Variable ``genascope_retention`` (JSON,
every key optional, ages in days)::

    {"apply": true, "run_files_days": 30, "processed_days": 30, "rejected_days": 60,
     "quarantine_raw_days": 90, "undo_window_days": 30, "idempotency_days": 7}
"""

from __future__ import annotations

import json
import os
from datetime import datetime, timedelta

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from include.core.errors import GenascopeError

VARIABLE = "genascope_retention"


class RetentionSettingsError(GenascopeError, ValueError):
    """The Variable genascope_retention is not valid; the message names the key to fix."""


class RetentionSettings(BaseModel):
    model_config = ConfigDict(extra="forbid")

    #: Scheduled runs remove (true) or only report what they would remove (false: the default, so the
    #: first nights are dry runs someone reads before turning this on). A manual run's Param decides.
    apply: bool = False
    #: PHI-bearing files of run folders (quarantine exports, worklists, archive exports).
    run_files_days: float = Field(default=30, gt=0)
    #: Deliveries moved to processed/ (the ledger keeps their SHA-256, counts and location).
    processed_days: float = Field(default=30, gt=0)
    #: Deliveries moved to rejected/ (held or rejected) and their .reason.json.
    rejected_days: float = Field(default=60, gt=0)
    #: Raw values of resolved quarantine rows.
    quarantine_raw_days: float = Field(default=90, gt=0)
    #: How long an import file can be undone exactly (its updates' previous values are kept).
    undo_window_days: float = Field(default=30, gt=0)
    #: Stored responses of the intake API's Idempotency-Keys.
    idempotency_days: float = Field(default=7, gt=0)

    def cutoff(self, key: str, as_of: datetime) -> datetime:
        return as_of - timedelta(days=getattr(self, key))


def parse(raw: str | dict | None) -> RetentionSettings:
    if raw is None or (isinstance(raw, str) and not raw.strip()):
        return RetentionSettings()
    try:
        return RetentionSettings.model_validate(json.loads(raw) if isinstance(raw, str) else raw)
    except json.JSONDecodeError as exc:
        raise RetentionSettingsError(f"the Variable {VARIABLE} is not valid JSON (line {exc.lineno})") from exc
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"]) or "(top level)"
        raise RetentionSettingsError(f"the Variable {VARIABLE}: key {where!r}: {first['msg']}") from None


def load() -> RetentionSettings:
    try:
        from airflow.sdk import Variable

        raw = Variable.get(VARIABLE, default=None)
    except Exception:  # noqa: BLE001 - no Airflow runtime (a script): the environment only
        raw = os.environ.get(f"AIRFLOW_VAR_{VARIABLE.upper()}")
    return parse(raw)
