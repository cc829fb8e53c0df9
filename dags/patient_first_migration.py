"""
# patient_first_migration

Moves the Genascope application database from invite-first to patient-first, following the seed
runbook: **preflight → approval → schema (27, 28, 29) → backfill → quality gates → approval → finalize (30)
→ report**.

**Trigger by hand only.** One run at a time; it also holds the pipeline lease shared with
`patient_first_rollback` and `clinic_patient_import`, so none of them run beside it.

## Params
- **dry_run** (default *on*): apply no DDL and write nothing to application tables; the report says
  exactly what a real run would do (patients to create, invites/users/chats to link, quarantine, review queue).
- **batch_size**: rows per backfill batch (each batch is one short transaction with its checkpoint).
- **lanes**: key-range lanes each backfill phase runs side by side, one database connection each (default
  2, one per core of the database server). Each phase task holds that many slots of the `genascope_db`
  pool (`GENASCOPE_BACKFILL_LANES` at parse time); the Param can lower it, never raise it above them. A
  resumed phase keeps the lanes it started with.
- **throttle_factor** (default 0 = off): pace the backfill so that a durable commit, what every
  application write waits for, stays within this factor of its idle latency (e.g. 2). Use it when the
  application is busy during the run; it slows the backfill (BENCHMARKS.md, "P throttled").
- **stop_before_finalize**: run everything but `20250530_finalize_invites` (the NOT NULL step).
- **lock_timeout_ms**: how long any DDL or batch may wait for a lock before it backs off and retries.
- **restore_archived_patients** (default *on*): after a `patient_first_rollback`, put back the archived
  patients that the backfill cannot derive from invites (e.g. imported ones) with their original ids,
  before the backfill plans (so it matches them instead of creating duplicates).
- **require_approval** (default *on*): a real run waits for a person's approval twice (see below). Turn it
  off only for automation (`make demo`, tests): the run then goes from trigger to NOT NULL unattended.
- **auto_rollback_on_failure**: when a step fails, undo what *this run* applied (its links, the patients
  it created, the revisions it applied).

## Approvals (Airflow's human-in-the-loop; answer under *Required Actions* or on the task)
1. `approval.approve_plan`, before any DDL or data is applied: `approval.prepare_plan_approval` plans the
   backfill dry (nothing applied) and the request shows its numbers (patients to create and matched,
   invites/users/chat sessions to link, quarantined and review-queue invites), the gates the run must
   pass and a link to the run's **Report** tab. Counts only, no PHI.
2. `finalize.approve_finalize`, after every gate passed and before `20250530_finalize_invites`: each
   gate's result and row count.

**Approve** goes on. **Reject** skips everything after it (at the plan: nothing is applied at all; before
finalize: the backfill stays, reversible with `patient_first_rollback`, and NOT NULL is not applied); the
report (status `rejected…`, who and when) and the lease release still run and the run ends green. **No
answer within 4 hours** (`GENASCOPE_APPROVAL_TIMEOUT_S`): the approval task fails, nothing after it runs,
the lease is released and the run is red; trigger again to ask again. A dry run never asks. The waiting
task is in the `awaiting_input` state; Airflow 3.3's scheduler resumes it when someone answers and fails
it on timeout (older Airflow needs the triggerer; `make airflow` starts one either way).

## Recovery
Every task is safe to re-run: schema steps skip revisions already applied, the backfill resumes from its
last committed batch, gates only read. A **failed gate** fails at once (no retries) and names the rule,
the row count and ids; fix the cause (e.g. `missing_name` invites: give the invite or its user a name)
and trigger the DAG again: it picks up where it stopped. Reports: the run's **Report** tab in the UI
(from `<runs root>/patient_first_migration/<run_id>/report.json`; GX Data Docs linked there; the runs root:
Variable `genascope_runs_dir`, e.g. `s3://…/runs`; default `runs/`).
"""

from __future__ import annotations

import pendulum
from airflow.sdk import Param, TriggerRule, dag, get_current_context, task_group

from include import notify
from include.core import pipeline_dags, run_lifecycle, settings
from include.core.approvals import PipelineApprovalOperator
from include.core.dag_support import (
    DEFAULT_ARGS,
    RUN_SECTION,
    SAFETY_SECTION,
    enforce_gate,
    params,
    run_id,
    skip_if_dry,
    task,
)

DAG_ID = pipeline_dags.MIGRATION.dag_id


def _gate(result: dict) -> dict:
    from include.migration_run import steps as migration_steps

    return enforce_gate(result, migration_steps.raise_if_failed)


def _start_run_record(run_id: str, params: dict) -> dict:
    from include.migration_run import steps as migration_steps

    return migration_steps.start_run_record(run_id, params)


@dag(
    dag_id=DAG_ID,
    dag_display_name=pipeline_dags.MIGRATION.display_name,
    description="Moves the application database from invite-first to patient-first: preflight, approval, schema, "
                "backfill, quality gates, approval, finalize, report.",
    schedule=None,
    start_date=pendulum.datetime(2025, 5, 27, tz="UTC"),
    catchup=False,
    max_active_runs=1,
    tags=["genascope", "migration", "patient-first"],
    doc_md=__doc__,
    default_args=notify.default_args(DAG_ID, DEFAULT_ARGS),
    params={
        "dry_run": Param(True, type="boolean", title="Dry run",
                         description="Change nothing; report what a real run would do.", section=SAFETY_SECTION),
        "batch_size": Param(settings.DEFAULT_BATCH_SIZE, type="integer", minimum=100, maximum=1_000_000, title="Backfill batch size",
                            description="Rows per backfill batch (one short transaction each).", section=RUN_SECTION),
        "lanes": Param(settings.DEFAULT_BACKFILL_LANES, type="integer", minimum=1,
                       maximum=settings.DEFAULT_BACKFILL_LANES, title="Backfill lanes",
                       description="Key ranges each backfill phase runs side by side (one connection each, within "
                                   "the pool slots the phase task holds).", section=RUN_SECTION),
        "throttle_factor": Param(settings.DEFAULT_THROTTLE_FACTOR, type="number", minimum=0, maximum=100,
                                 title="Throttle (commit latency factor)",
                                 description="0 = off. Else the backfill pauses while a durable commit takes longer "
                                             "than this factor times its idle latency (protects the application's "
                                             "writes; costs backfill time).", section=SAFETY_SECTION),
        "stop_before_finalize": Param(False, type="boolean", title="Stop before finalize",
                                      description="Skip 20250530_finalize_invites (NOT NULL).", section=RUN_SECTION),
        "lock_timeout_ms": Param(2000, type="integer", minimum=100, maximum=60000, title="Lock timeout (ms)",
                                 description="Max wait for a lock before backing off and retrying.",
                                 section=SAFETY_SECTION),
        "restore_archived_patients": Param(True, type="boolean", title="Restore archived patients",
                                           description="After a rollback, put back the archived patients the "
                                                       "backfill cannot derive from invites (e.g. imported ones), "
                                                       "with their original ids.", section=SAFETY_SECTION),
        "require_approval": Param(True, type="boolean", title="Require approval",
                                  description="A real run waits for approval (Required Actions) after the dry "
                                              "plan and before 20250530_finalize_invites. Off only for automation.",
                                  section=SAFETY_SECTION),
        "auto_rollback_on_failure": Param(False, type="boolean", title="Auto-rollback on failure",
                                          description="If a step fails, undo what this run applied.",
                                          section=SAFETY_SECTION),
    },
)
def patient_first_migration():
    @task_group(group_id="preflight")
    def preflight():
        @task(retries=3)
        def check_app_db() -> dict:
            """Reachable, known alembic revision, live legacy schema = docs/contracts/data-model.md §1; the clinic sources
            document valid (a broken one fails here, without retries, not at the next night's import)."""
            from include.core.dag_support import fail_without_retry
            from include.imports import sources
            from include.migration_run import steps as migration_steps

            try:
                clinic_sources = len(sources.load_sources())
            except sources.SourceConfigError as exc:
                fail_without_retry(exc)
            return {**migration_steps.check_app_db(), "clinic_sources": clinic_sources}

        @task(retries=3)
        def record_legacy_checksums() -> dict:
            from include.migration_run import steps as migration_steps

            return migration_steps.record_legacy_checksums(run_id())

        checked = check_app_db()
        leased = run_lifecycle.acquire_task(then=_start_run_record)
        recorded = record_legacy_checksums()
        checked >> leased >> recorded
        return checked, leased, recorded

    @task_group(group_id="approval")
    def approval():
        @task(retries=1)
        def prepare_plan_approval() -> dict:
            """A dry plan of this run (nothing applied) and the restore it will run, as the approval's body."""
            from include.core.approvals import not_required_reason
            from include.migration_run import steps as migration_steps
            from include.rollback import steps as rollback_steps

            p = params()
            restore = rollback_steps.restore_for_migration(run_id(), dry_run=True) \
                if p["restore_archived_patients"] and not_required_reason(p) is None else None
            return migration_steps.prepare_plan_approval(run_id(), p, restore)

        prepared = prepare_plan_approval()
        approve = PipelineApprovalOperator(
            task_id="approve_plan", retries=0, prepared_task_id="approval.prepare_plan_approval",
            subject="Apply the patient-first migration (run {{ run_id }})?",
            body="{{ ti.xcom_pull(task_ids='approval.prepare_plan_approval')['body'] }}",
        )
        prepared >> approve
        return prepared, approve

    @task_group(group_id="schema")
    def schema():
        from include.migration_run.tasks import UPGRADE_TASKS

        first = previous = None
        for task_id, revision in UPGRADE_TASKS.items():
            @task(task_id=task_id, retries=3)
            def upgrade(rev: str = revision) -> dict:
                from include.migration_run import steps as migration_steps

                p = params()
                return migration_steps.upgrade_step(run_id(), rev, dry_run=p["dry_run"],
                                                    lock_timeout_ms=p["lock_timeout_ms"])

            step = upgrade()
            if previous is not None:
                previous >> step
            first = first or step
            previous = step

        @task(retries=3)
        def restore_archived_patients() -> dict:
            """Patients archived by patient_first_rollback that invites cannot rebuild (e.g. imported)."""
            from airflow.sdk.exceptions import AirflowSkipException

            from include.rollback import steps as rollback_steps

            p = params()
            if not p["restore_archived_patients"]:
                raise AirflowSkipException("restore_archived_patients is off: archives stay pending")
            return rollback_steps.restore_for_migration(run_id(), dry_run=p["dry_run"])

        restore = restore_archived_patients()
        previous >> restore
        return first, restore

    @task_group(group_id="backfill")
    def backfill():
        from include.migration_run.tasks import BACKFILL_PHASES

        @task
        def plan_backfill() -> dict:
            from include.migration_run import steps as migration_steps

            return migration_steps.plan_backfill(run_id(), params())

        def phase_task(phase: str):
            # one pool slot per lane: the phase opens one connection per lane
            @task(task_id=phase, retries=3, pool_slots=settings.DEFAULT_BACKFILL_LANES)
            def run_phase() -> dict:
                from include.migration_run import steps as migration_steps

                skip_if_dry(phase)
                return migration_steps.backfill_phase(run_id(), phase, params())

            return run_phase()

        @task(retries=3)
        def catch_up() -> dict:
            from include.migration_run import steps as migration_steps

            skip_if_dry("catch_up")
            return migration_steps.catch_up(run_id(), params())

        plan = plan_backfill()
        chain = [plan] + [phase_task(p) for p in BACKFILL_PHASES] + [catch_up()]
        for up, down in zip(chain, chain[1:], strict=False):
            up >> down
        return chain[0], chain[-1]

    @task_group(group_id="gates")
    def gates():
        from include.gates.sql_gates import SQL_RULES

        tasks = []
        for rule in SQL_RULES:
            @task(task_id=f"gate_{rule}", retries=0)
            def sql_gate(rule_name: str = rule) -> dict:
                from include.migration_run import steps as migration_steps

                return _gate(migration_steps.sql_gate(rule_name))

            tasks.append(sql_gate())

        @task(retries=0)
        def gate_legacy_checksums_unchanged() -> dict:
            from include.migration_run import steps as migration_steps

            return _gate(migration_steps.checksum_gate(run_id()))

        @task(retries=0)
        def gate_counts_reconcile() -> dict:
            from include.migration_run import steps as migration_steps

            ti = get_current_context()["ti"]
            plan = ti.xcom_pull(task_ids="backfill.plan_backfill") or {}
            return _gate(migration_steps.counts_gate(plan.get("quarantined_invite_ids", [])))

        @task(retries=0)
        def gate_great_expectations() -> dict:
            from include.migration_run import steps as migration_steps

            return _gate(migration_steps.gx_gate(run_id()))

        tasks += [gate_legacy_checksums_unchanged(), gate_counts_reconcile(), gate_great_expectations()]
        return tasks

    @task_group(group_id="finalize")
    def finalize():
        @task(retries=1)
        def prepare_finalize_approval() -> dict:
            """Every gate's result and row count as the approval's body (reads no database)."""
            from include.migration_run import steps as migration_steps
            from include.migration_run.tasks import GATE_TASKS

            ti = get_current_context()["ti"]
            gates = [g for g in (ti.xcom_pull(task_ids=t, key="gate") for t in GATE_TASKS[:-1]) if g]
            plan = ti.xcom_pull(task_ids="backfill.plan_backfill") or {}
            restore = ti.xcom_pull(task_ids="schema.restore_archived_patients")
            return migration_steps.prepare_finalize_approval(
                run_id(), params(), gates, plan, restore=restore,
                already_applied=migration_steps.finalize_already_applied())

        @task(retries=2)
        def finalize_invites_not_null() -> dict:
            from airflow.sdk.exceptions import AirflowSkipException

            from include.migration_run import steps as migration_steps

            p = params()
            skip_if_dry("finalize")
            if p["stop_before_finalize"]:
                raise AirflowSkipException("stop_before_finalize is set: 20250530_finalize_invites not applied")
            return migration_steps.finalize(run_id(), p)

        @task(retries=0)
        def post_check_finalized() -> dict:
            from include.migration_run import steps as migration_steps

            return _gate(migration_steps.post_check_finalized())

        prepared = prepare_finalize_approval()
        approve = PipelineApprovalOperator(
            task_id="approve_finalize", retries=0, prepared_task_id="finalize.prepare_finalize_approval",
            subject="Apply 20250530_finalize_invites (invites.patient_id NOT NULL) (run {{ run_id }})?",
            body="{{ ti.xcom_pull(task_ids='finalize.prepare_finalize_approval')['body'] }}",
        )
        applied = finalize_invites_not_null()
        last = post_check_finalized()
        prepared >> approve >> applied >> last
        return [prepared, approve, applied], last

    @task(trigger_rule=TriggerRule.ONE_FAILED, retries=0)
    def auto_rollback_on_failure() -> dict:
        from airflow.sdk.exceptions import AirflowSkipException

        from include.migration_run import steps as migration_steps

        if not params()["auto_rollback_on_failure"]:
            raise AirflowSkipException("auto_rollback_on_failure is off: nothing undone")
        return migration_steps.auto_rollback(run_id())

    @task(retries=0)
    def identity_match_report() -> dict:
        """The matcher over the migrated patients: a report step (never raises, never gates finalize)."""
        from include.core.db import app_engine
        from include.identity import steps as identity_steps

        skip_if_dry("identity_match_report")
        return identity_steps.after_backfill(app_engine(), DAG_ID, run_id())

    @task(trigger_rule=TriggerRule.ALL_DONE, retries=1)
    def write_run_report() -> dict:
        from include.migration_run import report as migration_report

        return migration_report.report_from_xcom(run_id(), params(), get_current_context()["ti"])

    pre_first, leased, pre = preflight()
    prepare_plan, approve_plan = approval()
    schema_first, schema_last = schema()
    plan, backfill_last = backfill()
    gate_tasks = gates()
    fin_first, fin_last = finalize()
    rollback = auto_rollback_on_failure()
    report = write_run_report()

    pre >> prepare_plan
    approve_plan >> schema_first
    schema_last >> plan
    backfill_last >> gate_tasks
    gate_tasks >> fin_first[0]
    # A rejected approval skips its direct downstream (the next step, the auto-rollback and the watcher);
    # the lease release and the report still run.
    main_tasks = [pre_first, pre, prepare_plan, approve_plan, schema_first, schema_last, plan, backfill_last,
                  *gate_tasks, *fin_first, fin_last]
    identity = identity_match_report()
    backfill_last >> identity
    main_tasks >> rollback
    [rollback, identity] >> report
    # not main_tasks >> release/report: the approvals are main tasks, and a rejection skips their direct downstream
    run_lifecycle.tail(leased, [rollback, identity], report=report, watch=main_tasks, what="migration")


patient_first_migration()
