"""Undo one backfill run (the migration DAG's auto-rollback): only what that run wrote, per its ledgers."""

from __future__ import annotations

from dataclasses import dataclass

import sqlalchemy as sa

from include.backfill.models import BackfillOptions
from include.backfill.sqlfiles import statement
from include.backfill.transactions import in_short_transaction


@dataclass(frozen=True)
class UndoResult:
    run_id: str
    invites_unlinked: int
    users_unlinked: int
    chat_sessions_unlinked: int
    patients_deleted: int
    patients_kept_referenced: int


def undo_run(conn: sa.Connection, run_id: str, opts: BackfillOptions | None = None) -> UndoResult:
    """Unlink what ``run_id`` linked and delete the patients it created (one transaction, lock-safe).

    Requires ``invites.patient_id`` to be nullable (downgrade 20250530_finalize_invites first).
    """
    opts = opts or BackfillOptions(run_id=run_id)

    def body(c: sa.Connection) -> UndoResult:
        links = c.execute(statement("undo_run"), {"run_id": run_id}).one()
        patients = c.execute(statement("undo_run_patients"), {"run_id": run_id}).one()
        return UndoResult(run_id, int(links.invites_unlinked), int(links.users_unlinked),
                          int(links.chat_sessions_unlinked), int(patients.patients_deleted),
                          int(patients.patients_kept_referenced))

    return in_short_transaction(conn, opts, f"undo backfill run {run_id}", body)
