"""
# patient_first_rollback

Takes the Genascope application database back from patient-first towards invite-first **without
losing a patient**: **preflight → approval → archive (+ verify, export) → downgrade one revision per
task → verify → report**. Every patients row (from the backfill, the imports or the application) and every
link to a patient is copied into the pipeline schema `patient_pipeline` (which survives the rollback)
before anything is dropped; the next `patient_first_migration` run restores what the backfill cannot
derive from invites (imported patients, with their original ids and links).

**Trigger by hand only.** One run at a time; it holds the pipeline lease shared with
`patient_first_migration` and `clinic_patient_import`: if one of them is running, this run waits up
to the Variable `genascope_lease_wait_seconds`, then fails saying which run holds it. Nothing changed.

## Params
- **target_revision**: where the schema ends. `20250529_update_patients` only undoes finalize;
  `20250528_update_invites` also drops `patients.user_id`; `20250527_create_patients` also drops the
  invites/chat_sessions links; `20250526_legacy_baseline` drops the `patients` table (full rollback).
- **dry_run** (default *on*): change nothing; the report lists what would be archived and dropped
  (counts per table) and the revisions that would be downgraded.
- **confirm**: a real run (dry_run off) needs the word `ROLLBACK` here. Anything else fails the run at
  once with a message saying so, before the database is touched.
- **lock_timeout_ms**: how long each downgrade may wait for a table lock before it backs off and retries.
- **require_approval** (default *on*): a real run waits for a person's approval before the first drop
  (see below). Off only for automation (tests).

## Approval (Airflow's human-in-the-loop; answer under *Required Actions* or on the task)
`approval.approve_rollback` runs after the preflight and before the archive and the first drop. The request
shows the current revision, the revisions to remove, the rows to archive per table and a link to the
run's **Report** tab (counts only, no PHI). **Approve**: archive, verify, export, downgrade as below.
**Reject**: nothing is archived or dropped; the report (status `rejected: nothing applied`, who and when)
and the lease release still run, the run ends green. **No answer within 4 hours**
(`GENASCOPE_APPROVAL_TIMEOUT_S`): the approval task fails, nothing is dropped, the lease is released, the
run is red. A dry run never asks. Airflow 3.3's scheduler resumes the waiting (`awaiting_input`) task
when someone answers and fails it on timeout (older Airflow needs the triggerer; `make airflow` starts one).

## What each step guarantees
1. *preflight*: the confirmation, the lease, the current revision (a target above it fails), counts,
   the legacy tables' checksums.
2. *archive*: all patients columns (`patient_pipeline.archived_patients`, the full row as jsonb too)
   and the links (`archived_patient_links`), under this run's id. `verify_archive` compares counts and
   checksums with the live tables; no downgrade runs before it passed. `export_archive_file` writes
   `<runs root>/patient_first_rollback/<run_id>/archive_export.ndjson`: **it holds PHI**, so the file is
   created with mode **0600** and the folder 0700; move it only to storage approved for PHI. Logs and
   the report hold counts and ids only.
3. *downgrade*: one task per revision, newest first; tasks at or below the target are skipped. Each
   re-syncs and re-verifies the archive of what it drops in one snapshot right before dropping it;
   the patients table is dropped (consent `patients_archived=yes`) only then.
4. *verify*: the schema is the target revision's shape (for the baseline: the legacy contract, no
   `patients`, no `patient_id` columns), the legacy rows are unchanged (checksums), the archive holds
   every row counted before the rollback.

## Recovery
Every task is safe to re-run: the archive converges to the live tables, a downgrade already done is a
no-op, verification only reads. If a task failed, fix the cause named in its log and clear the run from
that task (or trigger again: a new run archives what is still live; the earlier archive is kept and
restored too). A **failed verify** fails at once (no retries); the archive is kept, nothing is lost.
To put the patients back, run `patient_first_migration`: its `schema.restore_archived_patients` step
restores the archive after the schema upgrades and before the backfill. Reports: the run's **Report**
tab in the UI (from `<runs root>/patient_first_rollback/<run_id>/report.json`).
"""

from __future__ import annotations

import pendulum
from airflow.sdk import Param, TriggerRule, dag, get_current_context, task_group

from include import notify
from include.core import pipeline_dags, run_lifecycle
from include.core.approvals import PipelineApprovalOperator
from include.core.dag_support import (
    DEFAULT_ARGS,
    RUN_SECTION,
    SAFETY_SECTION,
    enforce_gate,
    fail_without_retry,
    params,
    run_id,
    skip_if_dry,
    skip_if_rejected,
    task,
)
from include.rollback.targets import DOWNGRADE_TASKS, TARGETS

DAG_ID = pipeline_dags.ROLLBACK.dag_id
APPROVAL_TASK = "approval.approve_rollback"


def _gate(result: dict) -> dict:
    from include.rollback import steps

    return enforce_gate(result, steps.raise_if_failed)


@dag(
    dag_id=DAG_ID,
    dag_display_name=pipeline_dags.ROLLBACK.display_name,
    description="Takes the application database back from patient-first towards invite-first without losing "
                "a patient (archive first, then one revision per task).",
    schedule=None,
    start_date=pendulum.datetime(2025, 5, 27, tz="UTC"),
    catchup=False,
    max_active_runs=1,
    tags=["genascope", "migration", "rollback", "patient-first"],
    doc_md=__doc__,
    default_args=notify.default_args(DAG_ID, DEFAULT_ARGS),
    params={
        "target_revision": Param("20250529_update_patients", type="string", enum=list(TARGETS),
                                 values_display=TARGETS, title="Target revision",
                                 description="The revision the schema ends at (everything above it is removed).",
                                 section=RUN_SECTION),
        "dry_run": Param(True, type="boolean", title="Dry run",
                         description="Change nothing; report what would be archived and dropped.",
                         section=SAFETY_SECTION),
        "confirm": Param("", type=["null", "string"], title="Confirm",
                         description="Type ROLLBACK for a real run (dry run off). Anything else: the run fails "
                                     "at once and nothing changes.", section=SAFETY_SECTION),
        "lock_timeout_ms": Param(2000, type="integer", minimum=100, maximum=60000, title="Lock timeout (ms)",
                                 description="Max wait for a table lock per downgrade before backing off and "
                                             "retrying.", section=SAFETY_SECTION),
        "require_approval": Param(True, type="boolean", title="Require approval",
                                  description="A real run waits for approval (Required Actions) before the "
                                              "archive and the first drop. Off only for automation.",
                                  section=SAFETY_SECTION),
    },
)
def patient_first_rollback():
    @task_group(group_id="preflight")
    def preflight():
        @task(retries=0)
        def validate_confirm() -> dict:
            """A real run needs confirm = ROLLBACK; reads no database."""
            from include.core.errors import ConfirmationMissing
            from include.rollback import steps
            from include.rollback.errors import RollbackError

            try:
                return steps.validate_confirm(params())
            except (RollbackError, ConfirmationMissing) as exc:
                fail_without_retry(exc)

        @task(retries=2)
        def inspect_database() -> dict:
            """Revision, legacy contract, what would be archived and dropped; opens the archive record."""
            from include.rollback import steps
            from include.rollback.errors import RollbackError

            try:
                return steps.preflight(run_id(), params())
            except RollbackError as exc:
                fail_without_retry(exc)

        @task(retries=3)
        def record_legacy_checksums() -> dict:
            from include.rollback import steps

            return steps.record_legacy_checksums(run_id())

        leased = run_lifecycle.acquire_task()
        chain = [validate_confirm(), leased, inspect_database(), record_legacy_checksums()]
        for up, down in zip(chain, chain[1:], strict=False):
            up >> down
        return chain[0], leased, chain[-1]

    @task_group(group_id="approval")
    def approval():
        @task(retries=1)
        def prepare_rollback_approval() -> dict:
            """What the preflight found (revisions to remove, rows to archive) as the approval's body."""
            from include.rollback import steps

            ti = get_current_context()["ti"]
            return steps.prepare_approval(run_id(), params(), ti.xcom_pull(task_ids="preflight.inspect_database"))

        prepared = prepare_rollback_approval()
        approve = PipelineApprovalOperator(
            task_id="approve_rollback", retries=0,
            subject="Roll the app database back to {{ params.target_revision }} (run {{ run_id }})?",
            body="{{ ti.xcom_pull(task_ids='approval.prepare_rollback_approval')['body'] }}",
        )
        prepared >> approve
        return prepared, approve

    @task_group(group_id="archive")
    def archive():
        @task(retries=3)
        def archive_patients_and_links() -> dict:
            from include.rollback import steps

            skip_if_dry("archive")
            return steps.archive_patients_and_links(run_id())

        @task(retries=0)
        def verify_archive() -> dict:
            from include.rollback import steps

            skip_if_dry("verify_archive")
            return _gate(steps.verify_archive(run_id()))

        @task(retries=2)
        def export_archive_file() -> dict:
            """Writes the archive to the run folder with mode 0600 (PHI)."""
            from include.rollback import steps

            skip_if_dry("export")
            return steps.export_archive(run_id())

        first, gate, export = archive_patients_and_links(), verify_archive(), export_archive_file()
        first >> gate >> export
        return first, export

    @task_group(group_id="downgrade")
    def downgrade():
        first = previous = None
        for task_id, revision in DOWNGRADE_TASKS.items():
            @task(task_id=task_id, retries=3)
            def remove_revision(rev: str = revision) -> dict:
                from airflow.sdk.exceptions import AirflowSkipException

                from include.rollback import downgrade as rollback_downgrade
                from include.rollback import steps
                from include.rollback.errors import RollbackError

                p = params()
                skip_if_dry(f"removing {rev}")
                if not rollback_downgrade.is_needed(rev, p["target_revision"]):
                    raise AirflowSkipException(f"{rev} is kept: target is {p['target_revision']}")
                try:
                    return steps.downgrade_step(run_id(), rev, lock_timeout_ms=p["lock_timeout_ms"])
                except RollbackError as exc:  # archive incomplete / out of order: retrying will not help
                    fail_without_retry(exc)

            step = remove_revision()
            if previous is not None:
                previous >> step
            first = first or step
            previous = step
        return first, previous

    @task_group(group_id="verify")
    def verify():
        @task(retries=0, trigger_rule=TriggerRule.NONE_FAILED)
        def verify_schema_shape() -> dict:
            from include.rollback import steps

            skip_if_dry("verify")
            skip_if_rejected(APPROVAL_TASK)
            return _gate(steps.verify_schema(params()["target_revision"]))

        @task(retries=0, trigger_rule=TriggerRule.NONE_FAILED)
        def verify_legacy_checksums() -> dict:
            from include.rollback import steps

            skip_if_dry("verify")
            skip_if_rejected(APPROVAL_TASK)
            return _gate(steps.verify_legacy_checksums(run_id()))

        @task(retries=0, trigger_rule=TriggerRule.NONE_FAILED)
        def verify_archive_counts() -> dict:
            from include.rollback import steps

            skip_if_dry("verify")
            skip_if_rejected(APPROVAL_TASK)
            return _gate(steps.verify_archive_counts(run_id()))

        return [verify_schema_shape(), verify_legacy_checksums(), verify_archive_counts()]

    @task(trigger_rule=TriggerRule.ALL_DONE, retries=1)
    def write_run_report() -> dict:
        from include.rollback import report as rollback_report

        return rollback_report.report_from_xcom(run_id(), params(), get_current_context()["ti"])

    pre_first, leased, pre_last = preflight()
    prepare, approve = approval()
    archive_first, archive_last = archive()
    down_first, down_last = downgrade()
    checks = verify()
    report = write_run_report()

    pre_last >> prepare
    approve >> archive_first  # not in main_tasks: a rejection skips only its direct downstream (the archive)
    archive_last >> down_first
    down_last >> checks
    main_tasks = [pre_first, pre_last, prepare, archive_first, archive_last, down_first, down_last, *checks]
    main_tasks >> report
    run_lifecycle.tail(leased, main_tasks, report=report, watch=main_tasks, what="rollback")


patient_first_rollback()
