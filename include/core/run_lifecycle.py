"""One run lifecycle for every DAG: take the pipeline lease first, check it in every writing task, and end
with one tail (release the lease -> write the report -> keep the run red if a step failed).

- **Wait policy**: a run whose lease another run holds waits up to the Airflow Variable
  ``genascope_lease_wait_seconds`` (default 600 s, what ``airflow_settings.yaml`` sets too), then fails with ``PipelineBusy`` naming the holder. The same for all DAGs.
- **Retries**: ``PipelineBusy`` (it already waited) and a missing app-database configuration are never
  retried; any other error of the acquiring task (a dropped connection) is retried like any task.
- **Tail**: ``release_pipeline_lease`` is the *teardown* of ``acquire_pipeline_lease``: it runs once the
  run's work is done, whatever happened, and is skipped when the lease was never taken; clearing a task of
  a finished run takes the lease again first. Then the run report (all_done, so a run refused before it
  held the lease still says why), and the ``fail_run_if_any_step_failed`` watcher keeps the run red, since
  report and release succeed either way.

Light imports only: the DAG files call these factories at parse time.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from airflow.sdk import TriggerRule, get_current_context

from include.core import settings
from include.core.dag_support import fail_run_if_any_step_failed, fail_without_retry, task

LEASE_WAIT_VARIABLE = "genascope_lease_wait_seconds"
ACQUIRE_TASK_ID = "acquire_pipeline_lease"
RELEASE_TASK_ID = "release_pipeline_lease"


def lease_wait_s() -> float:
    """How long this run waits for a lease another run holds: the Variable, else the default."""
    from airflow.sdk import Variable

    return float(Variable.get(LEASE_WAIT_VARIABLE, default="600"))


def _ids() -> tuple[str, str]:
    ctx = get_current_context()
    return ctx["dag"].dag_id, ctx["run_id"]


def check_lease() -> None:
    """At the start of a writing task of a DAG: this run must still hold the lease (extends it)."""
    from include.core import lease
    from include.core.db import app_engine

    dag_id, run_id = _ids()
    lease.check_on(app_engine(), dag_id, run_id)


def acquire_task(*, then: Callable[[str, dict], dict] | None = None):
    """The run's first writing task, ``acquire_pipeline_lease`` (the setup of the lifecycle). ``then`` (run id,
    params) runs right after the lease is taken, in the same task (e.g. the migration opens its run record)."""

    @task(task_id=ACQUIRE_TASK_ID, retries=2, pool=settings.APP_DB_POOL)
    def acquire_pipeline_lease() -> dict[str, Any]:
        """Never beside another pipeline run: waits up to the Variable genascope_lease_wait_seconds, then
        fails naming the holder (not retried)."""
        from include.core import lease
        from include.core.db import AppDatabaseNotConfigured, app_engine
        from include.core.locks import PipelineBusy

        dag_id, run_id = _ids()
        try:
            lease.acquire_on(app_engine(), dag_id, run_id, wait_s=lease_wait_s())
        except (PipelineBusy, AppDatabaseNotConfigured) as exc:  # waited already / configuration: no retry
            fail_without_retry(exc)
        out: dict[str, Any] = {"lease": "taken", "run_id": run_id}
        if then is not None:
            out.update(then(run_id, dict(get_current_context()["params"])) or {})
        return out

    return acquire_pipeline_lease()


def release_task():
    """``release_pipeline_lease`` (idempotent: releases only what this run holds)."""

    @task(task_id=RELEASE_TASK_ID, trigger_rule=TriggerRule.ALL_DONE, retries=3, pool=settings.APP_DB_POOL)
    def release_pipeline_lease() -> bool:
        from include.core import lease
        from include.core.db import app_engine

        _, run_id = _ids()
        return lease.release_on(app_engine(), run_id)

    return release_pipeline_lease()


def tail(acquired: Any, work: Any, *, report: Any = None, watch: Sequence[Any] = (), what: str = "run") -> Any:
    """Wire the end of a run: ``work`` (the run's last step or steps) >> release, the release being the
    teardown of ``acquired``; then ``report`` (trigger rule all_done) after the release; and, when ``watch``
    is given, the watcher that keeps the run red if one of those steps failed. Returns the release task.

    The report comes after the release, outside the lease's scope, because Airflow skips every task in the
    scope of a setup that failed: a run refused before it held the lease (confirmation missing, pipeline
    busy) must still write the report that says why."""
    release = release_task()
    (list(work) if isinstance(work, (list, tuple)) else work) >> release.as_teardown(setups=acquired)
    if report is not None:
        release >> report
    if watch:
        list(watch) >> fail_run_if_any_step_failed(what)
    return release
