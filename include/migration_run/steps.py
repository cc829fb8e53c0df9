"""The steps of the `patient_first_migration` DAG as plain functions (plain arguments in, small dicts of
ids and counts out), so the DAG only wires them and tests/benchmarks can call them without Airflow."""

from __future__ import annotations

import logging
import time
from typing import Any

from include.core import alembic_driver, db, lease, run_records, run_report, settings, storage
from include.gates import GateResult, gate_failed, gx_gates, sql_gates
from include.migration_run.report import restored_count, write_waiting_report
from include.migration_run.tasks import BACKFILL_PHASES, DAG_ID

log = logging.getLogger(__name__)


def _engine():
    return db.app_engine()


# ---------------------------------------------------------------- preflight
def check_app_db() -> dict[str, Any]:
    """Reachable, a revision this project knows, and the live legacy schema matches the contract."""
    runs_root = storage.check_runs_root()  # reports and Data Docs must be where the API server reads them
    with _engine().connect() as conn:
        info = run_records.check_database(conn)
    log.info("preflight: %s, PostgreSQL %s, revision %s", info.database, info.server_version, info.revision)
    return {"database": info.database, "server_version": info.server_version, "revision": info.revision,
            "legacy_rows": info.legacy_rows, "runs_root": runs_root}


def start_run_record(run_id: str, params: dict[str, Any]) -> dict[str, Any]:
    """Open this run's record (right after the run took the pipeline lease, in the same task)."""
    with _engine().connect() as conn:
        run_records.start_run(conn, run_id, DAG_ID, bool(params.get("dry_run", True)), params)
    return {"run_record": "open"}


def record_legacy_checksums(run_id: str) -> dict[str, Any]:
    """Row counts and checksums of every legacy table's original columns, kept for the gates and rollback."""
    with _engine().connect() as conn:
        lease.check(conn, DAG_ID, run_id)
        sums = run_records.record_checksums(conn, run_id, "before")
    return {t: {"rows": c.rows, "checksum": c.checksum} for t, c in sums.items()}


# ---------------------------------------------------------------- schema
def upgrade_step(run_id: str, revision: str, *, dry_run: bool, lock_timeout_ms: int) -> dict[str, Any]:
    """Apply one revision (skipped when already applied); dry run only says what it would do."""
    with _engine().connect() as conn:
        lease.check(conn, DAG_ID, run_id)
        current = alembic_driver.current_revision(conn)
        already = alembic_driver.revision_index(current) >= alembic_driver.revision_index(revision)
        if dry_run:
            return {"revision": revision, "applied": False, "would_apply": not already, "current": current}
        started = time.monotonic()
        result = alembic_driver.upgrade(conn, revision, lock_timeout_ms=lock_timeout_ms)
        if result.applied:
            run_records.record_applied_revision(conn, run_id, revision)
        return {"revision": revision, "applied": result.applied, "before": result.before, "after": result.after,
                "seconds": round(time.monotonic() - started, 3)}


# ---------------------------------------------------------------- gates
def sql_gate(rule: str) -> dict[str, Any]:
    with _engine().connect() as conn:
        return sql_gates.run_sql_gate(conn, rule).as_dict()


def checksum_gate(run_id: str) -> dict[str, Any]:
    with _engine().connect() as conn:
        return sql_gates.legacy_checksums_gate(conn, run_id).as_dict()


def counts_gate(quarantined_invite_ids: list[str]) -> dict[str, Any]:
    with _engine().connect() as conn:
        return sql_gates.counts_reconcile_gate(conn, quarantined_invite_ids).as_dict()


def gx_gate(run_id: str) -> dict[str, Any]:
    results = gx_gates.validate_migration(db.resolve_app_database().uri, run_report.run_dir(DAG_ID, run_id))
    failed = [r for r in results if not r.passed]
    return {"rule": "gx_migration_suite", "passed": not failed, "violations": sum(r.violations for r in failed),
            "sample_ids": [], "detail": "; ".join(r.rule for r in failed) or f"{len(results)} expectations passed"}


def raise_if_failed(result: dict[str, Any]) -> None:
    gate = GateResult(**result)
    if not gate.passed:
        raise gate_failed([gate])
    log.info(gate.summary())


# ---------------------------------------------------------------- finalize
def finalize(run_id: str, params: dict[str, Any]) -> dict[str, Any]:
    """One last catch-up (invites the application wrote after the gates), then 20250530 (NOT NULL).

    The revision itself refuses, without changing anything, if an invite is still unlinked.
    """
    from include import backfill

    with _engine().connect() as conn:
        lease.check(conn, DAG_ID, run_id)
        started = time.monotonic()
        stragglers: dict[str, Any] = {}
        if alembic_driver.current_revision(conn) != settings.REV_FINALIZE_INVITES:
            stragglers = _as_dict(backfill.catch_up(conn, _backfill_options(run_id, params)))
        result = alembic_driver.upgrade(conn, settings.REV_FINALIZE_INVITES,
                                        lock_timeout_ms=int(params.get("lock_timeout_ms",
                                                                       settings.DEFAULT_LOCK_TIMEOUT_MS)))
        if result.applied:
            run_records.record_applied_revision(conn, run_id, settings.REV_FINALIZE_INVITES)
        return {"revision": settings.REV_FINALIZE_INVITES, "applied": result.applied,
                "catch_up_rows": stragglers.get("rows", {}), "seconds": round(time.monotonic() - started, 3)}


def post_check_finalized() -> dict[str, Any]:
    """invites.patient_id is NOT NULL, the temporary check is gone, the revision is the head."""
    import sqlalchemy as sa

    with _engine().connect() as conn:
        nullable = conn.execute(sa.text(
            "SELECT is_nullable FROM information_schema.columns WHERE table_schema = current_schema() "
            "AND table_name = 'invites' AND column_name = 'patient_id'")).scalar()
        leftover = conn.execute(sa.text(
            "SELECT count(*) FROM pg_constraint WHERE conname = 'ck_invites_patient_id_not_null'")).scalar()
        revision = alembic_driver.current_revision(conn)
    ok = nullable == "NO" and leftover == 0 and revision == settings.REV_FINALIZE_INVITES
    result = {"rule": "finalized", "passed": ok, "violations": 0 if ok else 1, "sample_ids": [],
              "detail": f"revision {revision}, invites.patient_id nullable={nullable}, leftover checks={leftover}"}
    return result




# ---------------------------------------------------------------- backfill


def _backfill_options(run_id: str, params: dict[str, Any]):
    from include import backfill

    lanes = min(int(params.get("lanes", settings.DEFAULT_BACKFILL_LANES)), settings.DEFAULT_BACKFILL_LANES)
    return backfill.BackfillOptions(run_id=run_id, batch_size=int(params.get("batch_size", settings.DEFAULT_BATCH_SIZE)),
                                    lock_timeout_ms=int(params.get("lock_timeout_ms", settings.DEFAULT_LOCK_TIMEOUT_MS)),
                                    lanes=max(1, lanes),
                                    throttle_factor=float(params.get("throttle_factor", settings.DEFAULT_THROTTLE_FACTOR)))


def _as_dict(obj: Any) -> dict[str, Any]:
    from dataclasses import asdict, is_dataclass

    return asdict(obj) if is_dataclass(obj) else dict(obj)


def plan_backfill(run_id: str, params: dict[str, Any]) -> dict[str, Any]:
    """Who becomes which patient: counts and the quarantine/review ids (also what a dry run reports).

    In a dry run on a database the upgrades have not reached yet, the plan reads read-only stand-ins
    for the missing columns (include/backfill/shadow.py) instead of applying any DDL.
    """
    from include import backfill
    from include.backfill import shadow

    with _engine().connect() as conn:
        lease.check(conn, DAG_ID, run_id)
        search_path = shadow.shadow_search_path(conn) if params.get("dry_run", True) else None
        return _as_dict(backfill.plan(conn, _backfill_options(run_id, params), search_path=search_path))


def backfill_phase(run_id: str, phase: str, params: dict[str, Any]) -> dict[str, Any]:
    from include import backfill

    if phase not in BACKFILL_PHASES:
        raise ValueError(f"unknown backfill phase {phase!r}")
    with _engine().connect() as conn:
        lease.check(conn, DAG_ID, run_id)
        return _as_dict(getattr(backfill, phase)(conn, _backfill_options(run_id, params)))


def catch_up(run_id: str, params: dict[str, Any]) -> dict[str, Any]:
    from include import backfill

    with _engine().connect() as conn:
        lease.check(conn, DAG_ID, run_id)
        return _as_dict(backfill.catch_up(conn, _backfill_options(run_id, params)))


# ---------------------------------------------------------------- approvals (include/core/approvals.py)


def prepare_plan_approval(run_id: str, params: dict[str, Any], restore: dict[str, Any] | None = None) -> dict[str, Any]:
    """The plan approval's body: a dry plan of this run (no DDL, no data), the restore of archived patients
    that will run before the backfill (``restore``: its dry preview), the gates, the report link.

    Returns ``required: False`` (and builds nothing) for a dry run or with ``require_approval`` off.
    While the approval waits, the plan is also the run's report so far (the Report tab shows it).
    """
    from include.core import approval_texts, approvals

    reason = approvals.not_required_reason(params)
    if reason:
        return {"required": False, "reason": reason, "body": ""}
    plan = plan_backfill(run_id, {**params, "dry_run": True})
    counts = {k: (len(v) if isinstance(v, list) else v) for k, v in plan.items() if isinstance(v, (int, list))}
    to_restore = restored_count(restore)
    write_waiting_report(run_id, params, "waiting for approval: approval.approve_plan", plan, restore)
    return {"required": True, "plan": counts, "would_restore": to_restore,
            "body": approval_texts.migration_plan_body({**plan, "archived_patients_to_restore": to_restore},
                                                  sql_gates.SQL_RULES, dag_id=DAG_ID, run_id=run_id)}


def finalize_already_applied() -> bool:
    """``20250530_finalize_invites`` is applied already (nothing to ask, nothing to do)."""
    with _engine().connect() as conn:
        applied = alembic_driver.current_revision(conn) == settings.REV_FINALIZE_INVITES
        conn.rollback()
    return applied


def prepare_finalize_approval(run_id: str, params: dict[str, Any], gates: list[dict], plan: dict[str, Any],
                              *, already_applied: bool = False, restore: dict[str, Any] | None = None) -> dict:
    """The finalize approval's body: every gate's result and row count (pure: reads no database).
    ``already_applied``: the database is at ``20250530_finalize_invites`` already, so nobody is asked."""
    from include.core import approval_texts, approvals

    reason = approvals.not_required_reason(params)
    if reason is None and already_applied:
        reason = f"{settings.REV_FINALIZE_INVITES} is already applied: nothing to approve"
    if reason:
        return {"required": False, "reason": reason, "body": ""}
    write_waiting_report(run_id, params, "waiting for approval: finalize.approve_finalize", plan, restore, gates)
    return {"required": True, "body": approval_texts.finalize_body(gates, {**plan, "archived_patients_restored":
                                                                      restored_count(restore)},
                                                                dag_id=DAG_ID, run_id=run_id)}




# ---------------------------------------------------------------- auto-rollback
def auto_rollback(run_id: str) -> dict[str, Any]:
    """Undo only what this run applied: NOT NULL first (if this run applied it), then its links and the
    patients it created, then its other revisions, newest first."""
    from include import backfill

    with _engine().connect() as conn:
        lease.check(conn, DAG_ID, run_id)
        applied = run_records.applied_revisions(conn, run_id)
        downgraded: list[str] = []

        def downgrade_once(revision: str) -> None:
            target = settings.ALL_REVISIONS[settings.ALL_REVISIONS.index(revision) - 1]
            # No consent to drop patient rows: if rows remain that this run did not create, it refuses.
            alembic_driver.downgrade(conn, target)
            downgraded.append(revision)

        if settings.REV_FINALIZE_INVITES in applied:
            downgrade_once(settings.REV_FINALIZE_INVITES)
        undone: dict[str, Any] = {}
        if alembic_driver.revision_index(alembic_driver.current_revision(conn)) >= \
      alembic_driver.revision_index(settings.REV_UPDATE_PATIENTS):
            undone = _as_dict(backfill.undo_run(conn, run_id))
        for revision in reversed([r for r in applied if r != settings.REV_FINALIZE_INVITES]):
            downgrade_once(revision)
    log.info("auto-rollback of run %s: %s; downgraded %s", run_id, undone, downgraded)
    return {"undone": undone, "downgraded": downgraded}
