"""The steps of the `patient_first_migration` DAG as plain functions (plain arguments in, small dicts of
ids and counts out), so the DAG only wires them and tests/benchmarks can call them without Airflow."""

from __future__ import annotations

import logging
import time
from typing import Any

from include.core import alembic_driver, db, failures, lease, run_records, run_report, settings, storage
from include.gates import GateResult, gate_failed, gx_gates, sql_gates

log = logging.getLogger(__name__)

DAG_ID = "patient_first_migration"

UPGRADE_TASKS = {
    "upgrade_create_patients": settings.REV_CREATE_PATIENTS,
    "upgrade_update_invites": settings.REV_UPDATE_INVITES,
    "upgrade_update_patients": settings.REV_UPDATE_PATIENTS,
}


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


# ---------------------------------------------------------------- report / lease
def write_report(run_id: str, params: dict[str, Any], sections: dict[str, Any]) -> dict[str, Any]:
    directory = run_report.run_dir(DAG_ID, run_id)
    dry = bool(params.get("dry_run", True))
    title = f"patient_first_migration {'DRY RUN' if dry else 'run'} {run_id}"
    path = run_report.write(directory, title, {"params": params, **sections})
    with _engine().connect() as conn:
        run_records.finish_run(conn, run_id, sections.get("status", "done"))
    return {"report": str(path), "folder": str(directory)}


# ---------------------------------------------------------------- backfill
BACKFILL_PHASES = ("create_patients", "link_invites", "link_users", "link_chat_sessions")


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
def restored_count(restore: dict[str, Any] | None) -> int:
    """Archived patients a restore puts back (a dry run's preview or a real run's result)."""
    restore = restore or {}
    if "would_restore" in restore:
        return int(restore.get("would_restore") or 0)
    return len(restore.get("restored_patient_ids") or [])


def prepare_plan_approval(run_id: str, params: dict[str, Any], restore: dict[str, Any] | None = None) -> dict[str, Any]:
    """The plan approval's body: a dry plan of this run (no DDL, no data), the restore of archived patients
    that will run before the backfill (``restore``: its dry preview), the gates, the report link.

    Returns ``required: False`` (and builds nothing) for a dry run or with ``require_approval`` off.
    While the approval waits, the plan is also the run's report so far (the Report tab shows it).
    """
    from include.core import approvals

    reason = approvals.not_required_reason(params)
    if reason:
        return {"required": False, "reason": reason, "body": ""}
    plan = plan_backfill(run_id, {**params, "dry_run": True})
    counts = {k: (len(v) if isinstance(v, list) else v) for k, v in plan.items() if isinstance(v, (int, list))}
    to_restore = restored_count(restore)
    write_waiting_report(run_id, params, "waiting for approval: approval.approve_plan", plan, restore)
    return {"required": True, "plan": counts, "would_restore": to_restore,
            "body": approvals.migration_plan_body({**plan, "archived_patients_to_restore": to_restore},
                                                  sql_gates.SQL_RULES, dag_id=DAG_ID, run_id=run_id)}


def write_waiting_report(run_id: str, params: dict[str, Any], status: str, plan: dict[str, Any],
                         restore: dict[str, Any] | None, gates: list[dict] | None = None) -> None:
    """The report so far, while an approval waits (the final report replaces it): the plan's numbers."""
    results = {"plan_backfill": plan, "restore_archived_patients": restore}
    # built as a plan (to create, to link, to restore), then marked as this real run's waiting state
    sections = build_report_sections({**params, "dry_run": True}, results, gates or [])
    sections["status"] = status
    sections["summary"]["mode"] = "real run, waiting for approval: the numbers are the plan"
    waiting_for = status.rsplit(".", 1)[-1]
    sections["approvals"] = {name: {"decision": "waiting for an answer" if name == waiting_for else
                                    ("approved" if name == "approve_plan" else "not reached")}
                             for name in ("approve_plan", "approve_finalize")}
    for name, outcome in sections["approvals"].items():
        sections["summary"][name] = outcome["decision"]
    directory = run_report.run_dir(DAG_ID, run_id)
    run_report.write(directory, f"patient_first_migration run {run_id} (waiting for approval)",
                     {"params": params, **sections})


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
    from include.core import approvals

    reason = approvals.not_required_reason(params)
    if reason is None and already_applied:
        reason = f"{settings.REV_FINALIZE_INVITES} is already applied: nothing to approve"
    if reason:
        return {"required": False, "reason": reason, "body": ""}
    write_waiting_report(run_id, params, "waiting for approval: finalize.approve_finalize", plan, restore, gates)
    return {"required": True, "body": approvals.finalize_body(gates, {**plan, "archived_patients_restored":
                                                                      restored_count(restore)},
                                                                dag_id=DAG_ID, run_id=run_id)}


def approval_sections(params: dict[str, Any], results: dict[str, Any], gates_failed: bool) -> dict[str, Any]:
    """approve_plan / approve_finalize as the report shows them: decision, by whom, when."""
    from include.core import approvals

    asked = approvals.not_required_reason(params) is None
    plan = approvals.decision(results.get("approve_plan"), asked=asked)
    if plan["decision"] != "approved" and asked or gates_failed and not results.get("approve_finalize"):
        final = {"decision": "not reached"}
    else:
        final = approvals.decision(results.get("approve_finalize"), asked=asked)
    return {"approve_plan": plan, "approve_finalize": final}


# ---------------------------------------------------------------- report from the run's XComs
REPORT_TASKS = {
    "preflight": "preflight.check_app_db",
    "legacy_checksums": "preflight.record_legacy_checksums",
    **{tid: f"schema.{tid}" for tid in UPGRADE_TASKS},
    "restore_archived_patients": "schema.restore_archived_patients",
    "plan_backfill": "backfill.plan_backfill",
    **{p: f"backfill.{p}" for p in BACKFILL_PHASES},
    "catch_up": "backfill.catch_up",
    "finalize_invites_not_null": "finalize.finalize_invites_not_null",
    "auto_rollback": "auto_rollback_on_failure",
    "approve_plan": "approval.approve_plan",
    "approve_finalize": "finalize.approve_finalize",
    "identity_matcher": "identity_match_report",
}
GATE_TASKS = [f"gates.gate_{r}" for r in sql_gates.SQL_RULES] + [
    "gates.gate_legacy_checksums_unchanged", "gates.gate_counts_reconcile", "gates.gate_great_expectations",
    "finalize.post_check_finalized",
]


def build_report_sections(params: dict[str, Any], results: dict[str, Any], gates: list[dict]) -> dict[str, Any]:
    """Turn the steps' results into report sections (pure: used by the DAG and by tests)."""
    dry = bool(params.get("dry_run", True))
    plan = results.get("plan_backfill") or {}
    schema = [{"task": t, **(results.get(t) or {"state": "not run"})} for t in UPGRADE_TASKS]
    phases = [{"phase": p, **(results.get(p) or {"state": "not run"})} for p in (*BACKFILL_PHASES, "catch_up")]
    failed_gates = [g for g in gates if not g.get("passed")]
    approvals = approval_sections(params, results, bool(failed_gates))
    if dry:
        status = "dry run"
    elif approvals["approve_plan"]["decision"] == "rejected":
        status = "rejected: nothing applied"
    elif approvals["approve_finalize"]["decision"] == "rejected":
        status = "rejected before finalize: 20250530_finalize_invites not applied"
    elif failed_gates:
        status = "failed"
    elif params.get("stop_before_finalize"):
        status = "stopped before finalize"
    else:
        status = "done" if results.get("finalize_invites_not_null") else "incomplete"
    summary = {
        "mode": "DRY RUN: nothing was changed" if dry else "real run",
        "patients_to_create" if dry else "patients_created": plan.get("patients_to_create", 0),
        "patients_matched": plan.get("patients_matched", 0),
        "invites_to_link": plan.get("invites_to_link", 0),
        "users_to_link": plan.get("users_to_link", 0),
        "chats_to_link": plan.get("chats_to_link", 0),
        "quarantined_invites": len(plan.get("quarantined_invite_ids", [])),
        "review_queue_invites": len(plan.get("review_queue_invite_ids", [])),
        "unresolved_account_invites": plan.get("unresolved_account_invites", 0),
        "gates_failed": len(failed_gates),
    }
    restore = results.get("restore_archived_patients")
    if restore:
        summary["archived_patients_to_restore" if dry else "archived_patients_restored"] = restored_count(restore)
    for name, outcome in approvals.items():
        who = f" by {outcome['by']} at {outcome['at']}" if outcome.get("by") else ""
        summary[name] = f"{outcome['decision']}{who}"
    notes = report_notes(dry, results, plan, schema, phases)
    for p in phases:
        if p["phase"] == "link_users" and "rows" in p and not p.get("rows") and plan.get("users_to_link"):
            p["note"] = ("0 rows: the planned users were linked as their patients were created "
                         "(create_patients sets patients.user_id); link_users only fills patients that had none")
    return {
        "notes": notes,
        "status": status,
        "summary": summary,
        "approvals": approvals,
        "preflight": results.get("preflight") or {},
        "legacy_checksums_before": results.get("legacy_checksums") or {},
        "schema_steps": schema,
        "backfill_phases": phases,
        "gates": gates,
        "restored_archived_patients": results.get("restore_archived_patients") or {"state": "not run"},
        "finalize": results.get("finalize_invites_not_null") or {"state": "not run"},
        "quarantine_invite_ids (missing_name)": plan.get("quarantined_invite_ids", []),
        "review_queue_invite_ids": plan.get("review_queue_invite_ids", []),
        "auto_rollback": results.get("auto_rollback") or {"state": "not run"},
        "identity_matcher": results.get("identity_matcher") or {"state": "not run"},
    }


def add_failures(sections: dict[str, Any], found: list[dict[str, str]]) -> None:
    """Why the run failed or was refused (reason code + message per failed task), in the report and its status."""
    sections["failures"] = found
    sections["status"] = failures.status_with_reason(sections["status"], found)


def report_notes(dry: bool, results: dict[str, Any], plan: dict[str, Any], schema: list[dict[str, Any]],
                 phases: list[dict[str, Any]]) -> list[str]:
    """Context for numbers that would otherwise puzzle (zeros on a migrated database, the restore, phases
    with 0 rows). Plain sentences with counts and revision ids only."""
    notes: list[str] = []
    revision = (results.get("preflight") or {}).get("revision")
    if dry and revision == settings.REV_FINALIZE_INVITES and not any(s.get("would_apply") for s in schema):
        notes.append(f"The database is already migrated (revision {revision}): a real run would apply no "
                     "revision, and the zeros below mean there is nothing left to create or link.")
    elif dry and plan and not any(int(plan.get(k) or 0) for k in ("patients_to_create", "invites_to_link",
                                                                   "users_to_link", "chats_to_link")):
        notes.append("Nothing to create or link: every invite, user and chat session already has its patient.")
    restored = restored_count(results.get("restore_archived_patients"))
    if restored:
        notes.append(f"{'Would restore' if dry else 'Restored'} {restored:,} archived patient"
                     f"{'s' if restored != 1 else ''} of an earlier rollback before the backfill (original ids and "
                     "links); invites whose patient was restored are linked to it, not created again.")
    link_users = next((p for p in phases if p["phase"] == "link_users"), {})
    if "rows" in link_users and not link_users.get("rows") and plan.get("users_to_link"):
        notes.append(f"users to link {int(plan['users_to_link']):,} beside a link_users phase with 0 rows: the "
                     "users were linked as their patients were created (create_patients); link_users only fills "
                     "patients that existed without one.")
    return notes


def report_from_xcom(run_id: str, params: dict[str, Any], ti: Any) -> dict[str, Any]:
    results = {name: ti.xcom_pull(task_ids=task_id, key="decision" if name.startswith("approve_") else "return_value")
               for name, task_id in REPORT_TASKS.items()}
    gates = [g for g in (ti.xcom_pull(task_ids=t, key="gate") for t in GATE_TASKS) if g]
    sections = build_report_sections(params, results, gates)
    add_failures(sections, failures.collect_run(ti))
    out = write_report(run_id, params, sections)
    summary = sections["summary"]
    log.info("run report: %s (%s); %s", out["report"], sections["status"],
             ", ".join(f"{k}={v}" for k, v in summary.items() if k != "mode"))
    return {**out, "status": sections["status"], "summary": summary}


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
