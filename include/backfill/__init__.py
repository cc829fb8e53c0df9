"""The invite-first -> patient-first backfill (docs/contracts/data-model.md §4), set-based, batched and resumable.

The DAG ``patient_first_migration`` calls one function per task:
plan_backfill -> :func:`plan`, create_patients -> :func:`create_patients`, link_invites ->
:func:`link_invites`, link_users -> :func:`link_users`, link_chat_sessions -> :func:`link_chat_sessions`,
catch_up -> :func:`catch_up`. :func:`run_all` chains them (benchmark, tests, ``python -m include.backfill``).
Every function takes a SQLAlchemy Connection and commits per batch.
"""

from include.backfill.models import (
    BackfillError,
    BackfillOptions,
    BackfillResult,
    PhaseResult,
    PlanLost,
    PlanMissing,
    PlanSummary,
)
from include.backfill.phases import create_patients, link_chat_sessions, link_invites, link_users
from include.backfill.planner import plan
from include.backfill.runner import catch_up, run_all
from include.backfill.undo import UndoResult, undo_run

__all__ = [
    "BackfillError", "BackfillOptions", "BackfillResult", "PhaseResult", "PlanLost", "PlanMissing", "PlanSummary",
    "UndoResult", "catch_up", "create_patients", "link_chat_sessions", "link_invites", "link_users", "plan",
    "run_all", "undo_run",
]
