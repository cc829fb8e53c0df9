"""What the DAG files share: the ``task`` decorator (every task body runs inside the database-step
wrapper), default args, the run's params and id, the dry-run skip, the no-retry gate, and the watcher
task that keeps a run red. Light imports only (DAG parsing)."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from typing import Any

from airflow.sdk import TriggerRule, get_current_context
from airflow.sdk import task as _airflow_task

from include.core import settings

RUN_SECTION = "Run"
SAFETY_SECTION = "Safety"

DEFAULT_ARGS: dict[str, Any] = {
    "owner": "data-platform",
    "pool": settings.APP_DB_POOL,
    "retries": 2,
    "retry_delay": timedelta(seconds=20),
    "retry_exponential_backoff": True,
}


def task(python_callable: Callable | None = None, **kwargs: Any):
    """``airflow.sdk.task`` whose body runs inside :func:`include.core.db_errors.guard`: a database error
    leaves the task as ``DatabaseStepFailed`` (SQLSTATE, constraint and relation names, never a row
    value or a bound parameter). Every task of every DAG of this project is declared with it, so no
    call site needs its own handling. Same forms as Airflow's: ``@task``, ``@task(retries=0, ...)``.
    A failure also leaves its reason code and message as the XCom ``failure`` (``include/core/failures.py``)
    for the run's report and its Report tab."""

    def decorate(fn: Callable) -> Any:
        from include.core.db_errors import guard
        from include.core.failures import recording

        step = str(kwargs.get("task_id") or fn.__name__)
        return _airflow_task(**kwargs)(recording(step)(guard(step)(fn)))

    return decorate(python_callable) if python_callable is not None else decorate


def params() -> dict:
    return dict(get_current_context()["params"])


def run_id() -> str:
    return get_current_context()["run_id"]


def skip_if_dry(what: str) -> None:
    from airflow.sdk.exceptions import AirflowSkipException

    if params()["dry_run"]:
        raise AirflowSkipException(f"dry run: {what} not executed (the report says what it would do)")


def skip_if_rejected(approval_task_id: str) -> None:
    """Skip a step that runs whatever its upstream did (trigger rule none_failed) when the run's approval
    was rejected: the steps it checks were never applied."""
    from airflow.sdk.exceptions import AirflowSkipException

    result = get_current_context()["ti"].xcom_pull(task_ids=approval_task_id, key="decision") or {}
    if list(result.get("chosen_options") or []) == ["Reject"]:
        raise AirflowSkipException(f"{approval_task_id} was rejected: nothing was applied, nothing to verify")


def fail_without_retry(exc: Exception) -> None:
    """Re-raise ``exc`` as a failure Airflow does not retry (a refusal that a retry cannot fix)."""
    from airflow.sdk.exceptions import AirflowFailException

    raise AirflowFailException(str(exc)) from exc


def enforce_gate(result: dict, check: Callable[[dict], None]) -> dict:
    """Push the gate result (key ``gate``) for the report, then fail WITHOUT retries if ``check`` raises:
    a failed data-quality rule does not get better by retrying."""
    ctx = get_current_context()
    ctx["ti"].xcom_push(key="gate", value=result)
    from include.core import metrics

    passed = result.get("passed", result.get("success"))
    if passed is not None:
        metrics.gate(str(result.get("rule") or ctx["ti"].task_id), bool(passed), dag_id=ctx["dag"].dag_id)
    try:
        check(result)
    except Exception as exc:  # the gate's own failure type; re-raised as a no-retry failure, same message
        fail_without_retry(exc)
    return result


def fail_run_if_any_step_failed(what: str):
    """A leaf task (ONE_FAILED) that keeps the DAG run red when a step failed, since the report and
    lease tasks (ALL_DONE) succeed either way. Touches no database, so it uses the default pool."""

    @task(task_id="fail_run_if_any_step_failed", trigger_rule=TriggerRule.ONE_FAILED, retries=0,
          pool="default_pool")
    def watcher() -> None:
        from airflow.sdk.exceptions import AirflowFailException

        raise AirflowFailException(f"a step of this {what} failed: see its log and the run report")

    return watcher()
