"""Approvals before the irreversible steps (Airflow's human-in-the-loop ``ApprovalOperator``).

A real ``patient_first_migration`` run asks twice: after the dry plan, before any DDL or data is
applied (``approval.approve_plan``), and before ``20250530_finalize_invites`` (``finalize.approve_finalize``).
A real ``patient_first_rollback`` asks once, after its preflight and before the archive and the first drop
(``approval.approve_rollback``). The request's body holds counts, rule names and a link to the run's
Report tab only (never PHI).

- **Approve**: the run goes on.
- **Reject**: the steps after the approval are skipped (nothing more is applied), the report and the
  lease release still run (trigger rule ``all_done``), the run ends green and its report says who
  rejected and when.
- **No answer** within :data:`APPROVAL_TIMEOUT`: Airflow's scheduler fails the approval task (no
  default option is configured on purpose), so nothing after it runs; the run is red, the lease released.

A dry run, or ``require_approval`` off (``make demo``, tests that are not about approvals), does not ask:
the task succeeds at once and says so in its log and in the report.
"""

from __future__ import annotations

import os
from datetime import timedelta
from typing import Any

from airflow.providers.standard.operators.hitl import ApprovalOperator

#: How long an approval waits. Below the pipeline lease's TTL (6 h), so an unanswered request never
#: outlives the lease it holds. GENASCOPE_APPROVAL_TIMEOUT_S overrides it (read when the DAG is parsed).
APPROVAL_TIMEOUT = timedelta(seconds=int(os.environ.get("GENASCOPE_APPROVAL_TIMEOUT_S", str(4 * 3600))))

APPROVE = ApprovalOperator.APPROVE
REJECT = ApprovalOperator.REJECT

#: XCom key of the approval's outcome (the report and the steps after it read it).
DECISION_KEY = "decision"

#: The url_route of the plugin's "Report" tab (include/ui/plugin.py registers it).
REPORT_TAB_ROUTE = "genascope-report"


class PipelineApprovalOperator(ApprovalOperator):
    """``ApprovalOperator`` that only asks when the run needs it: a real run with ``require_approval`` on.

    Otherwise it succeeds at once (so the steps after it run) and returns why it did not ask.
    """

    def __init__(self, *, prepared_task_id: str | None = None, **kwargs: Any) -> None:
        kwargs.setdefault("response_timeout", APPROVAL_TIMEOUT)
        super().__init__(**kwargs)
        #: the task that built the body; when it says ``required: False`` (e.g. the step is applied already),
        #: nobody is asked either
        self.prepared_task_id = prepared_task_id

    def execute(self, context: Any) -> Any:
        reason = not_required_reason(dict(context["params"]))
        if reason is None and self.prepared_task_id:
            prepared = context["ti"].xcom_pull(task_ids=self.prepared_task_id) or {}
            if prepared.get("required") is False and prepared.get("reason"):
                reason = str(prepared["reason"])
        if reason:
            self.log.info("approval not asked: %s", reason)
            result = {"decision": "not required", "reason": reason}
            context["ti"].xcom_push(key=DECISION_KEY, value=result)
            return result
        return super().execute(context)

    def execute_complete(self, context: Any, event: dict[str, Any]) -> Any:
        # Pushed before the parent runs: on "Reject" it ends the task by skipping the downstream tasks
        # (an exception), so its return value never becomes an XCom.
        if "error" not in event:
            context["ti"].xcom_push(key=DECISION_KEY, value={
                "chosen_options": list(event.get("chosen_options") or []),
                "responded_by_user": event.get("responded_by_user"),
                "responded_at": str(event.get("responded_at") or "")})
        return super().execute_complete(context, event)


def not_required_reason(params: dict[str, Any]) -> str | None:
    """Why this run needs no approval (``None`` when it does)."""
    if params.get("dry_run", True):
        return "dry run: nothing is applied"
    if not params.get("require_approval", True):
        return "require_approval is off"
    return None


def decision(result: dict[str, Any] | None, *, asked: bool) -> dict[str, Any]:
    """The approval task's outcome for the report: approved/rejected (who, when), not required, no answer."""
    if result is None:
        return {"decision": "no answer (timed out or failed): nothing after it was applied" if asked
                else "not reached"}
    if result.get("decision") == "not required":
        return {"decision": "not required", "reason": result.get("reason")}
    chosen = list(result.get("chosen_options") or [])
    user = result.get("responded_by_user") or {}
    at = result.get("responded_at")
    return {"decision": "approved" if chosen == [APPROVE] else "rejected",
            "by": user.get("name") or user.get("id") or "unknown",
            "at": at.isoformat() if hasattr(at, "isoformat") else str(at or "")}


def report_tab_url(dag_id: str, run_id: str, base_url: str = "") -> str:
    """The run's Report tab in the Airflow UI (relative when no ``[api] base_url`` is configured)."""
    from urllib.parse import quote

    return f"{base_url.rstrip('/')}/dags/{quote(dag_id, safe='')}/runs/{quote(run_id, safe='')}/plugin/{REPORT_TAB_ROUTE}"


def _base_url() -> str:
    try:
        from airflow.providers.common.compat.sdk import conf

        return conf.get("api", "base_url", fallback="") or ""
    except Exception:  # no Airflow configuration (unit tests of the body builders): a relative link
        return ""


def _table(rows: list[tuple[str, Any]]) -> list[str]:
    out = ["| | |", "|---|---:|"]
    out += [f"| {label} | {value:,} |" if isinstance(value, int) else f"| {label} | {value} |" for label, value in rows]
    return out + [""]


def migration_plan_body(plan: dict[str, Any], gate_rules: dict[str, str], *, dag_id: str, run_id: str,
                        base_url: str | None = None) -> str:
    """Markdown for the plan approval: the dry plan's counts, the gates the run must pass, the report link."""
    url = report_tab_url(dag_id, run_id, _base_url() if base_url is None else base_url)
    quarantined = len(plan.get("quarantined_invite_ids") or [])
    lines = ["A **real** migration is about to apply the schema upgrades and the backfill. "
             "The dry plan of this run says:", ""]
    lines += _table([
        ("patients to create", int(plan.get("patients_to_create", 0))),
        ("patients matched (already exist)", int(plan.get("patients_matched", 0))),
        ("invites to link", int(plan.get("invites_to_link", 0))),
        ("users to link", int(plan.get("users_to_link", 0))),
        ("chat sessions to link", int(plan.get("chats_to_link", 0))),
        ("invites quarantined (missing_name)", quarantined),
        ("invites to the review queue", len(plan.get("review_queue_invite_ids") or [])),
        ("invites with an unresolved account", int(plan.get("unresolved_account_invites", 0))),
        ("archived patients to restore (before the backfill)", int(plan.get("archived_patients_to_restore", 0))),
    ])
    restoring = int(plan.get("archived_patients_to_restore", 0))
    if restoring:
        lines += [f"After the schema upgrades, `schema.restore_archived_patients` puts back {restoring:,} "
                  f"archived patient{'s' if restoring != 1 else ''} of an earlier `patient_first_rollback` "
                  "(original ids and links). The counts above are from the database as it is now: invites "
                  "whose patient is restored link to it, so the run creates up to that many fewer patients.", ""]
    lines += ["Gates that must pass before `20250530_finalize_invites` (you are asked again then):", ""]
    lines += [f"- `{rule}`" for rule in gate_rules]
    lines += ["- `legacy_checksums_unchanged`: no legacy column changes",
              f"- `counts_reconcile`: every invite but the {quarantined:,} quarantined is linked",
              "- `gx_migration_suite`: the Great Expectations suite", ""]
    lines += [f"Run report: [Report tab]({url}). **Reject** applies nothing and ends the run."]
    return "\n".join(lines)


def finalize_body(gates: list[dict[str, Any]], plan: dict[str, Any], *, dag_id: str, run_id: str,
                  base_url: str | None = None) -> str:
    """Markdown for the finalize approval: every gate's result with its row count, the report link."""
    url = report_tab_url(dag_id, run_id, _base_url() if base_url is None else base_url)
    lines = ["The backfill is done and the gates ran. Next: `20250530_finalize_invites` "
             "(`invites.patient_id` NOT NULL; the application can then no longer write an invite "
             "without a patient).", "", "| gate | result | rows |", "|---|---|---:|"]
    for g in gates:
        lines.append(f"| `{g.get('rule')}` | {'passed' if g.get('passed') else 'FAILED'} | {int(g.get('violations') or 0):,} |")
    restored = int(plan.get("archived_patients_restored", 0))
    lines += ["", f"Patients created by this run's plan: {int(plan.get('patients_to_create', 0)):,}; "
              f"invites linked: {int(plan.get('invites_to_link', 0)):,}"
              + (f"; archived patients restored: {restored:,}." if restored else "."), "",
              f"Run report: [Report tab]({url}). **Reject** keeps the backfill (reversible with "
              "`patient_first_rollback`) and does not apply `20250530_finalize_invites`."]
    return "\n".join(lines)


def rollback_body(preflight: dict[str, Any], *, dag_id: str, run_id: str, base_url: str | None = None) -> str:
    """Markdown for the rollback approval: revisions to remove, rows to archive per table, the report link."""
    url = report_tab_url(dag_id, run_id, _base_url() if base_url is None else base_url)
    revisions = preflight.get("revisions_to_downgrade") or []
    lines = [f"A **real** rollback from `{preflight.get('current_revision')}` is about to archive every patient "
             "and link, then remove these revisions (newest first):", ""]
    lines += [f"- `{r}`" for r in revisions] or ["- (none)"]
    lines += ["", "Rows to archive before anything is dropped:", ""]
    lines += _table([(table, int(n)) for table, n in sorted((preflight.get("would_archive") or {}).items())])
    lines += [f"Run report: [Report tab]({url}). **Reject** archives and drops nothing and ends the run."]
    return "\n".join(lines)
