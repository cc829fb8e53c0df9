"""Approvals (Airflow's human-in-the-loop) of the migration and the rollback, answered through Airflow's
REST API while ``dag.test()`` runs: nothing irreversible happens before a person approved; a rejection
ends the run cleanly with nothing applied; an unanswered request times out and fails safe."""

from __future__ import annotations

import json
import threading
from datetime import timedelta

import pytest
import sqlalchemy as sa

from include import seed as seeder
from include.core import alembic_driver, lease, run_report, settings
from tests.airflow_api import answer
from tests.phi import seeded_phi

pytestmark = pytest.mark.airflow

MIGRATION = "patient_first_migration"
ROLLBACK = "patient_first_rollback"


@pytest.fixture(scope="module")
def dags(airflow_home):
    from airflow.dag_processing.dagbag import DagBag

    bag = DagBag(dag_folder=str(settings.PROJECT_ROOT / "dags"))
    return {d: bag.dags[d] for d in (MIGRATION, ROLLBACK)}


@pytest.fixture
def seeded(app_env, engine):
    with engine.connect() as conn:
        alembic_driver.upgrade(conn, settings.REV_BASELINE)
    seeder.generate(app_env, 200, 3)
    return engine


def revision(engine) -> str | None:
    with engine.connect() as conn:
        return alembic_driver.current_revision(conn)


def lease_holder(engine):
    with engine.connect() as conn:
        return lease.holder(conn)


def report_of(dag_id: str, run_id: str) -> dict:
    return json.loads((run_report.run_dir(dag_id, run_id) / "report.json").read_text())


def run_with_answers(dag, conf: dict, answers) -> tuple[object, list[BaseException]]:
    """dag.test() in this thread while ``answers()`` (the approver) runs in another; its errors returned."""
    errors: list[BaseException] = []

    def approver():
        try:
            answers()
        except BaseException as exc:  # reported by the test, after the run ended
            errors.append(exc)

    thread = threading.Thread(target=approver, daemon=True)
    thread.start()
    params = {k: v for k, v in dag.params.dump().items()}
    run = dag.test(run_conf={**params, **conf})
    thread.join(timeout=60)
    return run, errors


def test_a_real_migration_waits_for_approval_before_any_ddl_and_again_before_finalize(
        dags, seeded, app_env, api, tokens):
    engine = seeded
    seen: dict[str, object] = {}

    def at_plan(run_id, detail):
        seen["plan_revision"] = revision(engine)
        with engine.connect() as conn:
            seen["patients_table"] = conn.execute(sa.text("SELECT to_regclass('public.patients')")).scalar()
        seen["plan_body"] = detail["body"]
        seen["report_while_waiting"] = report_of(MIGRATION, run_id)  # what the body's "Report tab" link shows

    def at_finalize(run_id, detail):
        seen["finalize_revision"] = revision(engine)
        seen["finalize_body"] = detail["body"]

    def approver():
        answer(api, MIGRATION, "approval.approve_plan", "Approve", user_token=tokens["admin"], before=at_plan)
        answer(api, MIGRATION, "finalize.approve_finalize", "Approve", user_token=tokens["admin"],
               before=at_finalize)

    run, errors = run_with_answers(dags[MIGRATION], {"dry_run": False, "require_approval": True}, approver)
    assert errors == []
    assert run.state == "success"
    # asked before anything was applied, then before the NOT NULL step
    assert seen["plan_revision"] == settings.REV_BASELINE and seen["patients_table"] is None
    assert seen["finalize_revision"] == settings.REV_UPDATE_PATIENTS
    assert revision(engine) == settings.REV_FINALIZE_INVITES
    body = str(seen["plan_body"])
    assert "patients to create" in body and "all_invites_linked" in body
    assert f"/dags/{MIGRATION}/runs/" in body and "/plugin/genascope-report" in body
    assert "| `all_invites_linked` | passed | 0 |" in str(seen["finalize_body"])
    # while the plan approval waits, its Report tab link shows the plan, not "No report yet"
    waiting = seen["report_while_waiting"]
    assert waiting["status"] == "waiting for approval: approval.approve_plan"
    assert waiting["summary"]["patients_to_create"] > 0 and f"{waiting['summary']['patients_to_create']:,}" in body
    assert waiting["approvals"]["approve_plan"]["decision"] == "waiting for an answer"
    assert "archived patients to restore (before the backfill) | 0 |" in body
    leaked = [s for s in seeded_phi(app_env) if s in body + str(seen["finalize_body"])]
    assert leaked == []
    report = report_of(MIGRATION, run.run_id)
    assert report["status"] == "done"
    assert report["approvals"]["approve_plan"]["decision"] == "approved"
    assert report["approvals"]["approve_plan"]["by"] == "admin"
    assert report["approvals"]["approve_finalize"]["decision"] == "approved"


def test_rejecting_the_plan_applies_nothing_releases_the_lease_and_the_report_says_who_and_when(
        dags, seeded, api, tokens):
    engine = seeded
    run, errors = run_with_answers(
        dags[MIGRATION], {"dry_run": False, "require_approval": True},
        lambda: answer(api, MIGRATION, "approval.approve_plan", "Reject", user_token=tokens["admin"]))
    assert errors == []
    assert run.state == "success"  # a decision, not a failure
    assert revision(engine) == settings.REV_BASELINE
    with engine.connect() as conn:
        assert conn.execute(sa.text("SELECT to_regclass('public.patients')")).scalar() is None
        assert conn.execute(sa.text("SELECT count(*) FROM invites WHERE to_jsonb(invites) ? 'patient_id'")).scalar() == 0
    assert lease_holder(engine) is None
    report = report_of(MIGRATION, run.run_id)
    assert report["status"] == "rejected: nothing applied"
    assert report["approvals"]["approve_plan"]["decision"] == "rejected"
    assert report["approvals"]["approve_plan"]["by"] == "admin" and report["approvals"]["approve_plan"]["at"]
    assert report["approvals"]["approve_finalize"]["decision"] == "not reached"
    assert report["summary"]["approve_plan"].startswith("rejected by admin at ")


def test_an_unanswered_approval_times_out_and_fails_safe(dags, seeded):
    from airflow.jobs.job import Job
    from airflow.jobs.scheduler_job_runner import SchedulerJobRunner

    from tests.airflow_api import wait_for_awaiting_input

    engine = seeded
    dag = dags[MIGRATION]
    approval = dag.task_dict["approval.approve_plan"]
    configured = approval.response_timeout
    approval.response_timeout = timedelta(seconds=1)

    def nobody_answers():
        assert wait_for_awaiting_input(MIGRATION, "approval.approve_plan")
        scheduler = SchedulerJobRunner(job=Job(), executors=[])
        for _ in range(60):  # Airflow's own timeout sweep, as the scheduler runs it
            import time

            time.sleep(1)
            scheduler.check_awaiting_input_timeouts()
            if wait_for_awaiting_input(MIGRATION, "approval.approve_plan", timeout_s=0.1) is None:
                return

    try:
        run, errors = run_with_answers(dag, {"dry_run": False, "require_approval": True}, nobody_answers)
    finally:
        approval.response_timeout = configured
    assert errors == []
    assert configured == timedelta(hours=4)
    assert run.state == "failed"
    assert revision(engine) == settings.REV_BASELINE
    assert lease_holder(engine) is None
    report = report_of(MIGRATION, run.run_id)
    assert report["approvals"]["approve_plan"]["decision"].startswith("no answer")
    assert report["summary"].get("patients_created", 0) == 0


def test_a_real_rollback_asks_before_archiving_and_dropping_and_a_rejection_drops_nothing(
        dags, app_env, engine, api, tokens):
    from include.rollback import restore
    from tests.rollback import helpers as h

    with engine.connect() as conn:
        h.build_migrated(conn)
        before = h.patients(conn)
    seen: dict[str, object] = {}

    def at_rollback(run_id, detail):
        seen["revision"] = revision(engine)
        seen["body"] = detail["body"]

    run, errors = run_with_answers(
        dags[ROLLBACK], {"target_revision": settings.REV_BASELINE, "dry_run": False, "confirm": "ROLLBACK",
                         "require_approval": True},
        lambda: answer(api, ROLLBACK, "approval.approve_rollback", "Reject", user_token=tokens["admin"],
                       before=at_rollback))
    assert errors == []
    assert run.state == "success"
    assert seen["revision"] == settings.REV_FINALIZE_INVITES
    assert "`20250527_create_patients`" in str(seen["body"]) and "| patients | 4 |" in str(seen["body"])
    assert [s for s in h.PHI_SAMPLES if s in str(seen["body"])] == []
    assert revision(engine) == settings.REV_FINALIZE_INVITES
    with engine.connect() as conn:
        assert h.patients(conn) == before
        assert restore.pending_archive(conn) is None
    assert lease_holder(engine) is None
    report = report_of(ROLLBACK, run.run_id)
    assert report["status"] == "rejected: nothing applied"
    assert report["approvals"]["approve_rollback"]["by"] == "admin"
    assert report["gates"] == []
