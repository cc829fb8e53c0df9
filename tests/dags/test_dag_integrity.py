"""Every DAG loads without import errors and carries what an on-call engineer relies on."""

from __future__ import annotations

import pytest

from include.core import settings

EXPECTED_DAGS = {"patient_first_migration", "patient_first_rollback", "clinic_patient_import", "patient_stewardship"}
#: Tasks that touch no database (files, Param checks, the red-run watcher) may use the default pool.
NO_DB_TASKS = {"fail_run_if_any_step_failed", "discover_files", "preflight.validate_confirm", "validate_request"}


@pytest.fixture(scope="module")
def dagbag():
    from airflow.dag_processing.dagbag import DagBag

    return DagBag(dag_folder=str(settings.PROJECT_ROOT / "dags"))


def test_dags_import_without_errors(dagbag):
    assert dagbag.import_errors == {}
    assert EXPECTED_DAGS <= set(dagbag.dag_ids)


def test_each_dag_has_tags_doc_and_retries(dagbag):
    for dag in dagbag.dags.values():
        assert dag.tags, dag.dag_id
        assert dag.doc_md and len(dag.doc_md) > 200, dag.dag_id
        assert dag.max_active_runs == 1, dag.dag_id
        assert any(t.retries > 0 for t in dag.tasks), dag.dag_id


def test_app_db_tasks_run_in_the_genascope_db_pool(dagbag):
    for dag in dagbag.dags.values():
        for t in dag.tasks:
            if t.task_id in NO_DB_TASKS:
                continue
            assert t.pool == settings.APP_DB_POOL, f"{dag.dag_id}.{t.task_id}"


def test_gates_do_not_retry(dagbag):
    dag = dagbag.dags["patient_first_migration"]
    gates = [t for t in dag.tasks if t.task_id.startswith("gates.")]
    assert len(gates) >= 10
    assert all(t.retries == 0 for t in gates)


def test_migration_params_have_safe_defaults(dagbag):
    params = dagbag.dags["patient_first_migration"].params
    assert params["dry_run"] is True
    assert params["auto_rollback_on_failure"] is False
    assert params["stop_before_finalize"] is False
    assert params["batch_size"] == settings.DEFAULT_BATCH_SIZE
    assert params["lanes"] == settings.DEFAULT_BACKFILL_LANES and params["throttle_factor"] == 0


def test_each_backfill_phase_holds_one_pool_slot_per_lane(dagbag):
    dag = dagbag.dags["patient_first_migration"]
    for phase in ("create_patients", "link_invites", "link_users", "link_chat_sessions"):
        task = dag.task_dict[f"backfill.{phase}"]
        assert (task.pool, task.pool_slots) == (settings.APP_DB_POOL, settings.DEFAULT_BACKFILL_LANES)


def test_approvals_guard_every_irreversible_step_and_are_on_by_default(dagbag):
    from datetime import timedelta

    from airflow.providers.standard.operators.hitl import ApprovalOperator

    migration, rollback = dagbag.dags["patient_first_migration"], dagbag.dags["patient_first_rollback"]
    for dag, approval, guarded in (
            (migration, "approval.approve_plan",
             [t for t in migration.task_dict if t.startswith(("schema.", "backfill.", "finalize.finalize"))]),
            (migration, "finalize.approve_finalize", ["finalize.finalize_invites_not_null"]),
            (rollback, "approval.approve_rollback",
             [t for t in rollback.task_dict if t.startswith(("archive.", "downgrade."))])):
        assert dag.params["require_approval"] is True
        task = dag.task_dict[approval]
        assert isinstance(task, ApprovalOperator) and task.retries == 0
        assert timedelta(0) < task.response_timeout <= timedelta(hours=5)  # below the lease's 6 h TTL
        assert guarded and all(approval in dag.task_dict[t].get_flat_relative_ids(upstream=True) for t in guarded)


def test_each_dag_reads_like_the_runbook_in_the_dag_list(dagbag):
    for dag in dagbag.dags.values():
        assert dag.dag_display_name and dag.dag_display_name != dag.dag_id, dag.dag_id
        assert dag.description and len(dag.description) < 200, dag.dag_id


def test_every_dag_runs_the_one_lifecycle_of_include_core(dagbag):
    """The lease is the setup, its release the teardown, PipelineBusy is not retried (it waited the one
    Variable's time already): include/core/run_lifecycle.py, never a DAG file's own copy."""
    for dag in dagbag.dags.values():
        acquire = [t for t in dag.tasks if t.task_id.endswith("acquire_pipeline_lease")]
        release = [t for t in dag.tasks if t.task_id == "release_pipeline_lease"]
        assert len(acquire) == 1 and len(release) == 1, dag.dag_id
        assert acquire[0].is_setup and release[0].is_teardown, dag.dag_id
        assert acquire[0].task_id in release[0].upstream_task_ids, dag.dag_id
    for path in (settings.PROJECT_ROOT / "dags").glob("*.py"):
        source = path.read_text()
        assert "genascope_lease_wait_seconds\"" not in source and "lease.acquire" not in source, path.name
        assert "def acquire_pipeline_lease" not in source and "def release_pipeline_lease" not in source, path.name


def test_the_registry_names_every_dag_and_its_phases(dagbag):
    from include.core import pipeline_dags

    assert set(pipeline_dags.DAG_IDS) == set(dagbag.dag_ids)
    for entry in pipeline_dags.ALL:
        dag = dagbag.dags[entry.dag_id]
        assert dag.dag_display_name == entry.display_name
        steps = {t.task_id.split(".")[0] for t in dag.tasks}
        assert set(entry.phases) <= steps, (entry.dag_id, set(entry.phases) - steps)
