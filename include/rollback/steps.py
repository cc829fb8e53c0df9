"""The steps of the ``patient_first_rollback`` DAG as plain functions (plain arguments in, small dicts of
ids and counts out), so the DAG only wires them and tests can call them without Airflow.

Order: validate_confirm -> (the lease: include/core/run_lifecycle.py) -> preflight -> record_legacy_checksums
-> archive -> verify_archive -> export_archive -> downgrade (one revision per step, newest first) -> verify_*
-> report -> (release). Every writing step first checks that this run still holds the pipeline lease.
"""

from __future__ import annotations

import logging
from typing import Any

from include.core import alembic_driver, db, lease, pipeline_dags, run_records, run_report, settings, storage
from include.core.errors import ConfirmationMissing
from include.rollback import archive, downgrade, restore, verify
from include.rollback.errors import (
    DowngradeOutOfOrder,
    RollbackVerificationFailed,
)

log = logging.getLogger(__name__)

DAG_ID = pipeline_dags.ROLLBACK.dag_id
CONFIRM_WORD = "ROLLBACK"
CHECKSUM_PHASE = "rollback_before"


def _engine():
    return db.app_engine()


# ---------------------------------------------------------------- preflight
def validate_confirm(params: dict[str, Any]) -> dict[str, Any]:
    """A real run needs confirm == ROLLBACK; a dry run needs nothing; the runs root must be shared with the
    API server (on a non-local executor). Reads no database."""
    target = downgrade.check_target(str(params.get("target_revision", "")))
    dry = bool(params.get("dry_run", True))
    confirm = params.get("confirm")
    if not dry and confirm != CONFIRM_WORD:
        got = "empty" if not confirm else "not the confirmation word"
        raise ConfirmationMissing(
            f"this is a real rollback (dry_run is off) but confirm is {got}: nothing was changed. "
            f"Trigger again with confirm = {CONFIRM_WORD} (exactly, upper case) to roll back to {target}, "
            "or with dry_run on to only see what would be archived and dropped.")
    # the archive export and the report must be where the API server and the next migration read them
    runs_root = storage.check_runs_root()
    return {"dry_run": dry, "target_revision": target, "confirmed": not dry, "runs_root": runs_root}


def prepare_approval(run_id: str, params: dict[str, Any], preflight: dict[str, Any] | None) -> dict[str, Any]:
    """The rollback approval's body from the preflight's counts (pure: reads no database)."""
    from include.core import approval_texts, approvals

    reason = approvals.not_required_reason(params)
    if reason:
        return {"required": False, "reason": reason, "body": ""}
    return {"required": True, "body": approval_texts.rollback_body(preflight or {}, dag_id=DAG_ID, run_id=run_id)}


def rollback_plan(conn, target: str) -> dict[str, Any]:
    """What a rollback to ``target`` archives and drops, from the live database (read-only)."""
    current = alembic_driver.current_revision(conn)
    if alembic_driver.revision_index(current) < alembic_driver.revision_index(target):
        raise DowngradeOutOfOrder(
            f"the database is at {current}, below the target {target}: a rollback only goes down. "
            "Nothing was changed; choose a lower target_revision or run patient_first_migration.")
    counts = archive.live_counts(conn)
    removes = downgrade.revisions_to_remove(current, target)
    drops = {
        settings.REV_FINALIZE_INVITES: {"invites.patient_id NOT NULL": "dropped (no data)"},
        settings.REV_UPDATE_PATIENTS: {"patients.user_id links": counts[archive.USER]},
        settings.REV_UPDATE_INVITES: {"invites.patient_id links": counts[archive.INVITE],
                                      "chat_sessions.patient_id links": counts[archive.CHAT_SESSION]},
        settings.REV_CREATE_PATIENTS: {"patients rows": counts[archive.PATIENTS]},
    }
    return {"current_revision": current, "target_revision": target, "revisions_to_downgrade": removes,
            "would_archive": counts, "would_drop": {r: drops[r] for r in removes}}


def preflight(run_id: str, params: dict[str, Any]) -> dict[str, Any]:
    """Current revision, legacy contract, counts; opens the run record and (real runs) the archive."""
    target = downgrade.check_target(str(params["target_revision"]))
    dry = bool(params.get("dry_run", True))
    with _engine().connect() as conn:
        lease.check(conn, DAG_ID, run_id)
        info = run_records.check_database(conn)
        plan = rollback_plan(conn, target)
        run_records.start_run(conn, run_id, DAG_ID, dry, params)
        if not dry:
            archive.start(conn, run_id, DAG_ID, revision_before=info.revision, target_revision=target,
                          preflight_counts=plan["would_archive"])
    log.info("rollback preflight: %s at %s -> %s; remove %s; counts %s", info.database, info.revision, target,
             plan["revisions_to_downgrade"] or "nothing", plan["would_archive"])
    return {"database": info.database, "server_version": info.server_version, "legacy_rows": info.legacy_rows,
            **plan}


def record_legacy_checksums(run_id: str) -> dict[str, Any]:
    """Row counts and checksums of the legacy tables' original columns as this rollback found them."""
    with _engine().connect() as conn:
        lease.check(conn, DAG_ID, run_id)
        sums = run_records.record_checksums(conn, run_id, CHECKSUM_PHASE)
    return {t: {"rows": c.rows, "checksum": c.checksum} for t, c in sums.items()}


# ---------------------------------------------------------------- archive
def archive_patients_and_links(run_id: str) -> dict[str, Any]:
    """Copy every patients row and every link into this run's archive (converges on rerun)."""
    with _engine().connect() as conn:
        lease.check(conn, DAG_ID, run_id)
        return archive.sync(conn, run_id).as_dict()


def verify_archive(run_id: str) -> dict[str, Any]:
    """Counts and checksums of the archive vs the live tables; on success the downgrades may run."""
    with _engine().connect() as conn:
        lease.check(conn, DAG_ID, run_id)
        check = archive.verify(conn, run_id)
        if check.ok:
            archive.mark_verified(conn, check)
    verdict = verify.Verdict("archive_equals_live_tables", check.ok, check.failures(), check.as_dict())
    return verdict.as_dict()


def export_archive(run_id: str) -> dict[str, Any]:
    """The archive as a file in the run folder (mode 0600: it holds PHI)."""
    with _engine().connect() as conn:
        lease.check(conn, DAG_ID, run_id)
        out = archive.export(conn, run_id, run_report.run_dir(DAG_ID, run_id))
    return {"path": out.path, "patients": out.patients, "links": out.links, "mode": out.mode}


# ---------------------------------------------------------------- downgrade
def downgrade_step(run_id: str, revision: str, *, lock_timeout_ms: int) -> dict[str, Any]:
    with _engine().connect() as conn:
        lease.check(conn, DAG_ID, run_id)
        step = downgrade.downgrade_one(conn, run_id, revision, lock_timeout_ms=lock_timeout_ms)
    return step.as_dict()


# ---------------------------------------------------------------- verify
def verify_schema(target: str) -> dict[str, Any]:
    with _engine().connect() as conn:
        return verify.verify_schema(conn, target).as_dict()


def verify_legacy_checksums(run_id: str) -> dict[str, Any]:
    with _engine().connect() as conn:
        return verify.verify_legacy_checksums(conn, run_id, CHECKSUM_PHASE).as_dict()


def verify_archive_counts(run_id: str) -> dict[str, Any]:
    with _engine().connect() as conn:
        return verify.verify_archive_counts(conn, run_id).as_dict()


def raise_if_failed(result: dict[str, Any]) -> None:
    """Raise RollbackVerificationFailed naming the rule and its differences (names, ids, counts only)."""
    if not result.get("passed"):
        raise RollbackVerificationFailed(
            f"{result.get('rule')} failed: " + "; ".join(result.get("differences") or ["(no detail)"])
            + ". See the run report; the archive is kept (patient_pipeline.archived_*), nothing is lost.")
    log.info("%s passed", result.get("rule"))




# ---------------------------------------------------------------- restore (called by patient_first_migration)
def restore_for_migration(run_id: str, *, dry_run: bool, dag_id: str = pipeline_dags.MIGRATION.dag_id) -> dict[str, Any]:
    """The migration DAG's ``schema.restore_archived_patients`` step: restore every pending rollback
    archive (after 20250529, before the backfill plan). A dry run only says what it would restore."""
    with _engine().connect() as conn:
        lease.check(conn, dag_id, run_id)
        if dry_run:
            pending = restore.preview(conn)
            return {"dry_run": True, "pending_archives": restore.pending_archives(conn),
                    "would_restore": sum(p["to_restore"] for p in pending.values()), "per_archive": pending}
        return restore.restore_archived_patients(conn, run_id).as_dict()
