"""The ``patient_first_rollback`` run report: its sections from the steps' results (pure, so tests build
them too) and the final report from the run's XComs. The report's shape:
``include.core.report_models.RollbackReport``."""

from __future__ import annotations

import logging
from typing import Any

from include.core import failures, pipeline_dags, run_report
from include.core.report_models import RollbackReport
from include.rollback import downgrade

log = logging.getLogger(__name__)

DAG_ID = pipeline_dags.ROLLBACK.dag_id


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


def build_report_sections(params: dict[str, Any], results: dict[str, Any], gates: list[dict]) -> RollbackReport:
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
    dry = bool(params.get("dry_run", True))
    title = f"patient_first_rollback {'DRY RUN' if dry else 'run'} {run_id}"
    safe_params = {k: v for k, v in params.items() if k != "confirm"}
    return run_report.finish(DAG_ID, run_id, title, {"params": safe_params, **sections})


def report_from_xcom(run_id: str, params: dict[str, Any], ti: Any) -> dict[str, Any]:
    results, gates = run_report.xcom_inputs(ti, REPORT_TASKS, GATE_TASKS)
    sections = build_report_sections(params, results, gates)
    failures.add_to_sections(sections, failures.collect_run(ti))
    out = write_report(run_id, params, sections)
    log.info("rollback report: %s (%s)", out["report"], sections["status"])
    return {**out, "status": sections["status"], "summary": sections["summary"]}
