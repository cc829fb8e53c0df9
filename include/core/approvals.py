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
the task succeeds at once and says so in its log and in the report. The bodies' words and the Report tab
link: ``include/core/approval_texts.py``.
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


