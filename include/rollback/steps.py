"""The steps of the ``patient_first_rollback`` DAG as plain functions (plain arguments in, small dicts of
ids and counts out), so the DAG only wires them and tests can call them without Airflow.

Order: validate_confirm -> (the lease: include/core/run_lifecycle.py) -> preflight -> record_legacy_checksums
-> archive -> verify_archive -> export_archive -> downgrade (one revision per step, newest first) -> verify_*
-> report -> (release). Every writing step first checks that this run still holds the pipeline lease.
"""

from __future__ import annotations

import logging
from typing import Any

from include.core import alembic_driver, db, failures, lease, run_records, run_report, settings, storage
from include.core.errors import ConfirmationMissing
from include.rollback import archive, downgrade, restore, verify
from include.rollback.errors import (
    DowngradeOutOfOrder,
    RollbackVerificationFailed,
)

log = logging.getLogger(__name__)

DAG_ID = "patient_first_rollback"
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
    from include.core import approvals

    reason = approvals.not_required_reason(params)
    if reason:
        return {"required": False, "reason": reason, "body": ""}
    return {"required": True, "body": approvals.rollback_body(preflight or {}, dag_id=DAG_ID, run_id=run_id)}


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


# ---------------------------------------------------------------- report / lease
REPORT_TASKS = {
    "confirm": "preflight.validate_confirm",
    "preflight": "preflight.inspect_database",
    "legacy_checksums_before": "preflight.record_legacy_checksums",
    "archive": "archive.archive_patients_and_links",
    "approve_rollback": "approval.approve_rollback",
    "export": "archive.export_archive_file",
    **{tid: f"downgrade.{tid}" for tid in downgrade.DOWNGRADE_TASKS},
}
GATE_TASKS = ["archive.verify_archive", "verify.verify_schema_shape", "verify.verify_legacy_checksums",
              "verify.verify_archive_counts"]


def build_report_sections(params: dict[str, Any], results: dict[str, Any], gates: list[dict]) -> dict[str, Any]:
    """Turn the steps' results into report sections (pure; counts, ids and revision ids only)."""
    dry = bool(params.get("dry_run", True))
    plan = results.get("preflight") or {}
    failed = [g for g in gates if not g.get("passed")]
    verified = {g.get("rule") for g in gates if g.get("passed")}
    from include.core import approvals

    asked = approvals.not_required_reason(params) is None
    approval = approvals.decision(results.get("approve_rollback"), asked=asked) if plan or not asked \
        else {"decision": "not reached"}
    if dry:
        status = "dry run" if plan else "failed"
    elif approval["decision"] == "rejected":
        status = "rejected: nothing applied"
    elif failed:
        status = "failed"
    elif {"schema_is_target_shape", "legacy_checksums_unchanged", "archive_counts_match"} <= verified:
        status = "done"
    else:
        status = "incomplete"
    steps = [{"task": t, **(results.get(t) or {"state": "not run"})} for t in downgrade.DOWNGRADE_TASKS]
    for s in steps:
        s.pop("archive_rechecked", None)
    export = results.get("export") or {}
    summary = {
        "mode": "DRY RUN: nothing was changed" if dry else "real run",
        "revision_before": plan.get("current_revision"),
        "target_revision": params.get("target_revision"),
        "revisions_downgraded" if not dry else "revisions_to_downgrade": plan.get("revisions_to_downgrade", []),
        **{f"{'would_archive' if dry else 'archived'}_{k}": v for k, v in (plan.get("would_archive") or {}).items()},
        "export_file_mode": export.get("mode", "—"),
        "gates_failed": len(failed),
        "approve_rollback": approval["decision"] + (f" by {approval['by']} at {approval['at']}"
                                                    if approval.get("by") else ""),
    }
    return {
        "status": status,
        "summary": summary,
        "approvals": {"approve_rollback": approval},
        "preflight": {k: v for k, v in plan.items() if k not in ("would_drop",)},
        "would_drop": plan.get("would_drop", {}),
        "legacy_checksums_before": results.get("legacy_checksums_before") or {},
        "archive": results.get("archive") or {"state": "not run"},
        "export": {k: v for k, v in export.items()} or {"state": "not run"},
        "downgrade_steps": steps,
        "gates": [{k: g.get(k) for k in ("rule", "passed", "differences")} for g in gates],
    }


def write_report(run_id: str, params: dict[str, Any], sections: dict[str, Any]) -> dict[str, Any]:
    directory = run_report.run_dir(DAG_ID, run_id)
    dry = bool(params.get("dry_run", True))
    title = f"patient_first_rollback {'DRY RUN' if dry else 'run'} {run_id}"
    safe_params = {k: v for k, v in params.items() if k != "confirm"}
    path = run_report.write(directory, title, {"params": safe_params, **sections})
    with _engine().connect() as conn:
        run_records.finish_run(conn, run_id, sections.get("status", "done"))
    return {"report": str(path), "folder": str(directory)}


def add_failures(sections: dict[str, Any], found: list[dict[str, str]]) -> None:
    """Why the run failed or was refused (reason code + message per failed task), in the report and its status."""
    sections["failures"] = found
    sections["status"] = failures.status_with_reason(sections["status"], found)


def report_from_xcom(run_id: str, params: dict[str, Any], ti: Any) -> dict[str, Any]:
    results = {name: ti.xcom_pull(task_ids=task_id, key="decision" if name.startswith("approve_") else "return_value")
               for name, task_id in REPORT_TASKS.items()}
    gates = [g for g in (ti.xcom_pull(task_ids=t, key="gate") for t in GATE_TASKS) if g]
    sections = build_report_sections(params, results, gates)
    add_failures(sections, failures.collect_run(ti))
    out = write_report(run_id, params, sections)
    log.info("rollback report: %s (%s)", out["report"], sections["status"])
    return {**out, "status": sections["status"], "summary": sections["summary"]}


# ---------------------------------------------------------------- restore (called by patient_first_migration)
def restore_for_migration(run_id: str, *, dry_run: bool, dag_id: str = "patient_first_migration") -> dict[str, Any]:
    """The migration DAG's ``schema.restore_archived_patients`` step: restore every pending rollback
    archive (after 20250529, before the backfill plan). A dry run only says what it would restore."""
    with _engine().connect() as conn:
        lease.check(conn, dag_id, run_id)
        if dry_run:
            pending = restore.preview(conn)
            return {"dry_run": True, "pending_archives": restore.pending_archives(conn),
                    "would_restore": sum(p["to_restore"] for p in pending.values()), "per_archive": pending}
        return restore.restore_archived_patients(conn, run_id).as_dict()
