"""
# Pipeline housekeeping (`pipeline_housekeeping`)

Removes the personal data (PHI) the pipeline no longer needs, past configurable ages; ledgers, audits,
reports and counts stay.

**What it removes** (ages: the Airflow Variable `genascope_retention`, docs/operating-alerts.md):
- PHI-bearing files of the runs root (`genascope_runs_dir`, local or `s3://…`): quarantine exports,
  stewardship worklists, the rollback's archive exports (`*.csv`, `*.ndjson`) older than `run_files_days`;
- deliveries in each clinic source's `processed/` (older than `processed_days`) and `rejected/` (with their
  `.reason.json`, older than `rejected_days`);
- the raw values of **resolved** quarantine rows older than `quarantine_raw_days` (the row, its reason code
  and field stay);
- the previous values kept for undoing an import, once the undo window (`undo_window_days`) has passed;
- stored intake-API idempotency responses older than `idempotency_days`.

**What it keeps although old, because something still needs it** (the report counts them): quarantine
rows still open (a steward may correct and replay them) and the quarantine export of their file; the
previous values of a file with an open review item (a steward may still undo it).

**When.** Daily at 07:30 UTC, after the nightly import's 06:00 deadline. **Dry run first**: scheduled runs
only report what they would remove until `"apply": true` is set in `genascope_retention` (read a few
dry-run reports first). A manual run does what its `dry_run` Param says.

**Steps.** `acquire_pipeline_lease` (shared with the migration, rollback, import and stewardship DAGs)
-> `sweep_database` (one transaction; a dry run rolls it back, so its counts are exact) -> `sweep_files`
-> `write_run_report` (`<runs root>/pipeline_housekeeping/<run_id>/report.{json,md}`, the run's Report tab)
-> `release_pipeline_lease` (teardown). Logs, XComs and the report hold counts only.

**Params.**
- `dry_run` (default on): count what would be removed; remove nothing.
- `as_of`: the sweep's "now" (ISO 8601, UTC); empty = the current time. A dry run with a later `as_of`
  shows what the coming days will remove.
- `landing_root`: as on `clinic_patient_import` (empty = the Variable `genascope_landing_root`, else each
  source's configured landing).

**How to recover.** Every step is safe to re-run (a removed file or cleared value is not matched again):
clear the failed task. `acquire_pipeline_lease` failed: another pipeline DAG holds the lease; re-trigger
later. After `previous_values` were cleared, `undo_import` of that file answers `no_previous_values`.
"""

from __future__ import annotations

import pendulum
from airflow.sdk import Param, TriggerRule, dag, get_current_context

from include import notify
from include.core import pipeline_dags, run_lifecycle
from include.core.dag_support import DEFAULT_ARGS, SAFETY_SECTION, task

DAG_ID = pipeline_dags.HOUSEKEEPING.dag_id


def _run() -> tuple[str, str, bool]:
    """The run id, its type and whether this run is a dry run (Param, or the Variable for scheduled runs)."""
    from include.housekeeping import runner
    from include.housekeeping import settings as retention_settings

    ctx = get_current_context()
    run_type = str(ctx["dag_run"].run_type)
    dry = runner.effective_dry_run(bool(ctx["params"]["dry_run"]), run_type, retention_settings.load())
    return ctx["run_id"], run_type, dry


@dag(
    dag_id=DAG_ID,
    dag_display_name=pipeline_dags.HOUSEKEEPING.display_name,
    description="Removes the personal data the pipeline no longer needs, past configurable ages.",
    schedule="30 7 * * *",
    start_date=pendulum.datetime(2025, 6, 1, tz="UTC"),
    catchup=False,
    max_active_runs=1,
    tags=["genascope", "retention", "operations"],
    doc_md=__doc__,
    default_args=notify.default_args(DAG_ID, DEFAULT_ARGS),
    params={
        "dry_run": Param(True, type="boolean", title="Dry run",
                         description="Count what would be removed; remove nothing.", section=SAFETY_SECTION),
        "as_of": Param("", type="string", title="As of",
                       description="The sweep's 'now' (ISO 8601, UTC); empty = the current time.",
                       section="What to sweep"),
        "landing_root": Param("", type="string", title="Landing root override",
                              description="As on clinic_patient_import; empty = Variable genascope_landing_root, "
                                          "else each source's configured landing.", section="What to sweep"),
    },
)
def pipeline_housekeeping():
    @task
    def sweep_database(params: dict | None = None) -> dict:
        from include.core.db import app_engine
        from include.housekeeping import runner
        from include.housekeeping import settings as retention_settings

        _, _, dry = _run()
        return runner.sweep_database(app_engine(), retention_settings.load(), runner.as_of_time(params["as_of"]),
                                     dry_run=dry)

    @task
    def sweep_files(params: dict | None = None) -> dict:
        from airflow.sdk import Variable

        from include.core.db import app_engine
        from include.housekeeping import runner
        from include.housekeeping import settings as retention_settings
        from include.imports.sources import load_sources

        _, _, dry = _run()
        root = params["landing_root"] or Variable.get("genascope_landing_root", default=None)
        return runner.sweep_files(app_engine(), retention_settings.load(), runner.as_of_time(params["as_of"]),
                                  list(load_sources().values()), root or None, dry_run=dry)

    @task(trigger_rule=TriggerRule.ALL_DONE, retries=1)
    def write_run_report(params: dict | None = None) -> dict:
        from include.housekeeping import runner
        from include.housekeeping import settings as retention_settings

        run_id, _, dry = _run()
        ti = get_current_context()["ti"]
        return runner.write_report(run_id, retention_settings.load(), runner.as_of_time(params["as_of"]),
                                   ti.xcom_pull(task_ids="sweep_database"), ti.xcom_pull(task_ids="sweep_files"),
                                   dry_run=dry)

    lease_taken = run_lifecycle.acquire_task()
    database = sweep_database()
    swept_files = sweep_files()
    report = write_run_report()
    lease_taken >> database >> swept_files >> report
    run_lifecycle.tail(lease_taken, swept_files, report=report, watch=[database, swept_files], what="housekeeping run")


dag = pipeline_housekeeping()
