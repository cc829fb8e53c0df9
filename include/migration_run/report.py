"""The ``patient_first_migration`` run report: its sections from the steps' results (pure, so tests build
them too), the report while an approval waits, and the final report from the run's XComs. The report's
shape: ``include.core.report_models.MigrationReport``."""

from __future__ import annotations

import logging
from typing import Any

from include.core import failures, run_report, settings
from include.core.report_models import QUARANTINE_MISSING_NAME, MigrationReport
from include.migration_run.tasks import BACKFILL_PHASES, DAG_ID, GATE_TASKS, REPORT_TASKS, UPGRADE_TASKS

log = logging.getLogger(__name__)


def write_report(run_id: str, params: dict[str, Any], sections: dict[str, Any]) -> dict[str, Any]:
    dry = bool(params.get("dry_run", True))
    title = f"patient_first_migration {'DRY RUN' if dry else 'run'} {run_id}"
    return run_report.finish(DAG_ID, run_id, title, {"params": params, **sections})


def restored_count(restore: dict[str, Any] | None) -> int:
    """Archived patients a restore puts back (a dry run's preview or a real run's result)."""
    restore = restore or {}
    if "would_restore" in restore:
        return int(restore.get("would_restore") or 0)
    return len(restore.get("restored_patient_ids") or [])


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


def build_report_sections(params: dict[str, Any], results: dict[str, Any], gates: list[dict]) -> MigrationReport:
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
        QUARANTINE_MISSING_NAME: plan.get("quarantined_invite_ids", []),
        "review_queue_invite_ids": plan.get("review_queue_invite_ids", []),
        "auto_rollback": results.get("auto_rollback") or {"state": "not run"},
        "identity_matcher": results.get("identity_matcher") or {"state": "not run"},
    }


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
    results, gates = run_report.xcom_inputs(ti, REPORT_TASKS, GATE_TASKS)
    sections = build_report_sections(params, results, gates)
    failures.add_to_sections(sections, failures.collect_run(ti))
    out = write_report(run_id, params, sections)
    summary = sections["summary"]
    log.info("run report: %s (%s); %s", out["report"], sections["status"],
             ", ".join(f"{k}={v}" for k, v in summary.items() if k != "mode"))
    return {**out, "status": sections["status"], "summary": summary}
