"""Restore after a rollback: the next patient_first_migration run puts back the archived patients the
backfill cannot derive from invites, with their ORIGINAL ids, and relinks them.

Where it runs: in the migration DAG after the schema upgrades (20250529, so ``patients.user_id``
exists) and BEFORE the backfill plan, so the backfill matches the restored patients by identity key
instead of creating duplicates. Invite-derived patients are left to the backfill, which gives them
their deterministic ids again.

Which archives: every archive whose rollback verified it and that no migration restored yet
(``status = 'verified'``), newest first, so the newest copy of a patient wins; an older archive only
adds what the newer one does not hold. Each archive is restored in one transaction (all or nothing),
recorded in ``patient_pipeline.restored_patients`` / ``restored_links`` and marked ``restored``.
Safe to re-run: inserts skip live ids and keys, links are only written where the column is NULL.

What "restore" writes (set-based SQL in ``include/sql/rollback/restore_*.sql``):

* ``patients`` rows (original id and columns; an account/clinician that no longer exists becomes
  NULL, as the ON DELETE SET NULL foreign keys would have made it);
* ``patients.user_id`` when that user still exists and is linked to no other patient;
* ``invites.patient_id`` / ``chat_sessions.patient_id`` when the row still exists and is unlinked.

A patient another live patient already holds the key of (same account + external id, or same identity
key) is not inserted: its id is reported as a conflict, for a person to look at.
"""

from __future__ import annotations

import logging
from dataclasses import asdict, dataclass, field

import sqlalchemy as sa

from include.core import alembic_driver, pipeline_schema, settings, sql_files
from include.rollback.errors import RestoreNotPossible

log = logging.getLogger(__name__)

LINK_STEPS = (("user", "restore_02_link_users"), ("invite", "restore_03_link_invites"),
              ("chat_session", "restore_04_link_chat_sessions"))


@dataclass(frozen=True)
class RestoreResult:
    """What a restore did (ids and counts only). Empty ``archives``: there was nothing to restore."""

    run_id: str
    archives: list[str] = field(default_factory=list)
    restored_patient_ids: list[str] = field(default_factory=list)
    already_present_patient_ids: list[str] = field(default_factory=list)
    conflict_patient_ids: list[str] = field(default_factory=list)
    links_restored: dict[str, int] = field(default_factory=dict)
    left_to_backfill: int = 0

    @property
    def restored(self) -> int:
        return len(self.restored_patient_ids)

    def as_dict(self) -> dict[str, object]:
        return {**asdict(self), "restored": self.restored, "already_present": len(self.already_present_patient_ids),
                "conflicts": len(self.conflict_patient_ids)}


def pending_archives(conn: sa.Connection) -> list[str]:
    """Run ids of the verified, not yet restored archives, newest first."""
    pipeline_schema.ensure(conn)
    ids = list(conn.execute(sa.text(
        "SELECT run_id FROM patient_pipeline.rollback_archives WHERE status = 'verified' "
        "ORDER BY verified_at DESC, created_at DESC, run_id DESC")).scalars())
    conn.commit()
    return ids


def pending_archive(conn: sa.Connection) -> str | None:
    """The newest archive a migration has not restored yet (None: nothing to restore)."""
    pending = pending_archives(conn)
    return pending[0] if pending else None


def _require_revision(conn: sa.Connection) -> None:
    current = alembic_driver.current_revision(conn)
    if alembic_driver.revision_index(current) < alembic_driver.revision_index(settings.REV_UPDATE_PATIENTS):
        raise RestoreNotPossible(
            f"the database is at {current}; restoring archived patients needs {settings.REV_UPDATE_PATIENTS} "
            "(patients.user_id). Run it after the schema upgrades and before the backfill plan.")


def _restore_one(conn: sa.Connection, run_id: str, archive_run_id: str) -> dict[str, int]:
    params = {"archive_run_id": archive_run_id, "restore_run_id": run_id}
    with conn.begin():
        conn.execute(sql_files.statement("rollback", "restore_01_patients"), params)
        links = {entity: conn.execute(sql_files.statement("rollback", name), params).rowcount for entity, name in LINK_STEPS}
        conn.execute(sql_files.statement("rollback", "restore_05_mark_restored"), params)
    return links


def _outcomes(conn: sa.Connection, archives: list[str]) -> dict[str, list[str]]:
    rows = conn.execute(sa.text(
        "SELECT outcome, array_agg(patient_id ORDER BY patient_id) FROM patient_pipeline.restored_patients "
        "WHERE archive_run_id = ANY(:a) GROUP BY outcome"), {"a": archives}).all()
    conn.commit()
    return {outcome: list(ids) for outcome, ids in rows}


def _left_to_backfill(conn: sa.Connection, archives: list[str]) -> int:
    n = conn.execute(sa.text(
        "SELECT count(DISTINCT a.id) FROM patient_pipeline.archived_patients a WHERE a.run_id = ANY(:a) "
        "AND NOT EXISTS (SELECT 1 FROM patient_pipeline.restored_patients r "
        "WHERE r.archive_run_id = a.run_id AND r.patient_id = a.id)"), {"a": archives}).scalar()
    conn.commit()
    return int(n or 0)


def restore_archived_patients(conn: sa.Connection, run_id: str, *,
                              archive_run_ids: list[str] | None = None) -> RestoreResult:
    """Restore every pending archive (or ``archive_run_ids``), newest first; ``run_id`` is the restoring
    (migration) run. Idempotent: a restored archive is not restored again; a crash rolls back the
    archive being restored and a rerun does it whole."""
    pipeline_schema.ensure(conn)
    archives = archive_run_ids if archive_run_ids is not None else pending_archives(conn)
    if not archives:
        log.info("restore (run %s): no pending rollback archive", run_id)
        return RestoreResult(run_id)
    _require_revision(conn)
    links = {entity: 0 for entity, _ in LINK_STEPS}
    for archive_run_id in archives:
        for entity, n in _restore_one(conn, run_id, archive_run_id).items():
            links[entity] += n
    outcomes = _outcomes(conn, archives)
    already = sorted(set(outcomes.get("already_present", [])) - set(outcomes.get("restored", [])))
    result = RestoreResult(run_id, list(archives), outcomes.get("restored", []), already,
                           outcomes.get("conflict", []), links, _left_to_backfill(conn, archives))
    log.info("restore (run %s) from archives %s: %d patients restored, %d already present, %d conflicts, "
             "links %s, %d archived patients left to the backfill (invite-derived)", run_id, ", ".join(archives),
             result.restored, len(result.already_present_patient_ids), len(result.conflict_patient_ids),
             links, result.left_to_backfill)
    return result


def preview(conn: sa.Connection) -> dict[str, dict[str, int]]:
    """What a restore would do now, per pending archive: ``to_restore`` and ``archived`` counts (read-only)."""
    pipeline_schema.ensure(conn)
    rows = conn.execute(sql_files.statement("rollback", "restore_00_preview")).all()
    conn.commit()
    return {r.run_id: {"to_restore": int(r.to_restore), "archived": int(r.archived)} for r in rows}


def discard_archive(conn: sa.Connection, archive_run_id: str) -> bool:
    """Mark a pending archive as not to be restored (it is kept, never deleted). Returns whether it was pending."""
    pipeline_schema.ensure(conn)
    changed = conn.execute(sa.text(
        "UPDATE patient_pipeline.rollback_archives SET status = 'discarded' WHERE run_id = :r AND status = 'verified'"),
        {"r": archive_run_id}).rowcount
    conn.commit()
    return bool(changed)
