"""End to end: the `patient_first_migration` DAG through `dag.test()` on generated legacy data."""

from __future__ import annotations

import json
import threading
import time
import uuid

import pytest
import sqlalchemy as sa

from include import seed as seeder
from include.core import alembic_driver, run_report, settings
from tests.phi import seeded_phi

pytestmark = pytest.mark.airflow

INVITES = 1500

#: The DAG's Param defaults as parsed, before any test run (see run_dag).
PARAM_DEFAULTS: dict[str, object] = {}


@pytest.fixture(scope="module")
def migration_dag(airflow_home):
    from airflow.dag_processing.dagbag import DagBag

    bag = DagBag(dag_folder=str(settings.PROJECT_ROOT / "dags"))
    dag = bag.dags["patient_first_migration"]
    PARAM_DEFAULTS.update(dag.params.dump())
    return dag


@pytest.fixture
def seeded(app_env, engine):
    with engine.connect() as conn:
        alembic_driver.upgrade(conn, settings.REV_BASELINE)
    seeder.generate(app_env, INVITES, 7)
    return engine


def run_dag(dag, **conf):
    """dag.test() with every Param given: a Param one dag.test() sets stays set on the DAG object for the
    next run in this process (seen with Airflow 3.3: a run after the auto-rollback test rolled back too).
    These tests are not about approvals (tests/dags/test_migration_approvals.py is): require_approval off."""
    return dag.test(run_conf={**PARAM_DEFAULTS, "require_approval": False, **conf})


def report_of(dagrun) -> dict:
    folder = run_report.run_dir("patient_first_migration", dagrun.run_id)
    return json.loads((folder / "report.json").read_text())


def links(engine) -> dict[str, str]:
    with engine.connect() as conn:
        return dict(conn.execute(sa.text("SELECT id, patient_id FROM invites")).all())


def revision(engine) -> str | None:
    with engine.connect() as conn:
        return alembic_driver.current_revision(conn)


def test_dry_run_changes_nothing_then_real_run_migrates_and_rerun_changes_nothing(migration_dag, seeded, app_env,
                                                                                 capfd):
    engine = seeded
    dry = run_dag(migration_dag, dry_run=True)
    assert dry.state == "success"
    assert revision(engine) == settings.REV_BASELINE
    with engine.connect() as conn:
        assert conn.execute(sa.text("SELECT to_regclass('public.patients')")).scalar() is None
    dry_report = report_of(dry)
    assert dry_report["status"] == "dry run"
    assert dry_report["summary"]["patients_to_create"] > 0
    assert dry_report["summary"]["invites_to_link"] == INVITES or dry_report["summary"]["invites_to_link"] > 0

    real = run_dag(migration_dag, dry_run=False)
    assert real.state == "success"
    assert revision(engine) == settings.REV_FINALIZE_INVITES
    report = report_of(real)
    assert report["status"] == "done"
    assert all(g["passed"] for g in report["gates"]) and len(report["gates"]) >= 11
    # what the dry run predicted is what the real run did
    with engine.connect() as conn:
        patients = conn.execute(sa.text("SELECT count(*) FROM patients")).scalar()
        unlinked = conn.execute(sa.text("SELECT count(*) FROM invites WHERE patient_id IS NULL")).scalar()
    assert unlinked == 0
    assert patients == dry_report["summary"]["patients_to_create"] + dry_report["summary"]["patients_matched"]
    before = links(engine)

    again = run_dag(migration_dag, dry_run=False)
    assert again.state == "success"
    assert links(engine) == before
    with engine.connect() as conn:
        assert conn.execute(sa.text("SELECT count(*) FROM patients")).scalar() == patients

    out, err = capfd.readouterr()
    logs = out + err
    assert "patient_first_migration" in logs  # we really captured the task logs
    leaked = [s for s in seeded_phi(app_env) if s in logs]
    assert leaked == [], f"{len(leaked)} seeded PHI strings found in task logs"


def test_missing_name_blocks_finalize_until_the_source_row_is_fixed(migration_dag, app_env, engine):
    with engine.connect() as conn:
        alembic_driver.upgrade(conn, settings.REV_BASELINE)
    seeder.generate(app_env, 400, 11, missing_names=2)

    blocked = run_dag(migration_dag, dry_run=False)
    assert blocked.state == "failed"
    assert revision(engine) == settings.REV_UPDATE_PATIENTS  # finalize did not run
    report = report_of(blocked)
    quarantined = report["quarantine_invite_ids (missing_name)"]
    assert len(quarantined) >= 2
    failed = {g["rule"] for g in report["gates"] if not g["passed"]}
    assert "all_invites_linked" in failed
    gate = next(g for g in report["gates"] if g["rule"] == "all_invites_linked")
    assert set(gate["sample_ids"]) == set(quarantined)

    with engine.begin() as conn:  # an operator fixes the source rows
        conn.execute(sa.text("UPDATE invites SET first_name = 'Fixed', last_name = 'Byoperator' "
                             "WHERE id = ANY(:ids)"), {"ids": quarantined})
    fixed = run_dag(migration_dag, dry_run=False)
    assert fixed.state == "success"
    assert revision(engine) == settings.REV_FINALIZE_INVITES


def test_concurrent_writer_while_the_dag_runs_ends_with_every_invite_linked(migration_dag, seeded):
    engine = seeded
    stop = threading.Event()
    written: list[str] = []

    def backfill_linking_done(conn) -> bool:
        """The writer stops once the backfill's linking phases are done: catch_up then links its rows,
        and the gates (which compare legacy checksums with preflight) see a quiet database."""
        if conn.execute(sa.text("SELECT to_regclass('patient_pipeline.backfill_checkpoints')")).scalar() is None:
            return False
        return bool(conn.execute(sa.text(
            "SELECT coalesce(bool_or(done), false) FROM patient_pipeline.backfill_checkpoints "
            "WHERE phase = 'link_chat_sessions'")).scalar())

    def writer():
        with engine.connect() as conn:
            clinician = conn.execute(sa.text(
                "SELECT id FROM users WHERE lower(role) = 'clinician' AND account_id IS NOT NULL ORDER BY id LIMIT 1"
            )).scalar()
            n = 0
            while not stop.is_set() and n < 2000 and not backfill_linking_done(conn):
                n += 1
                invite_id = str(uuid.uuid4())
                conn.execute(sa.text(
                    "INSERT INTO invites (id, email, first_name, last_name, invite_token, clinician_id, status) "
                    "VALUES (:id, :email, 'Writer', :last, :tok, :clin, 'pending')"),
                    {"id": invite_id, "email": f"writer{n}@example.org", "last": f"W{n}", "tok": uuid.uuid4().hex,
                     "clin": clinician})
                # accept an older invite, as the legacy application does
                conn.execute(sa.text(
                    "UPDATE invites SET status = 'accepted', accepted_at = now(), updated_at = now() WHERE id = ("
                    "SELECT id FROM invites WHERE lower(status) = 'pending' ORDER BY id LIMIT 1)"))
                conn.commit()
                written.append(invite_id)
                time.sleep(0.05)

    thread = threading.Thread(target=writer)
    thread.start()
    try:
        run = run_dag(migration_dag, dry_run=False)
    finally:
        stop.set()
        thread.join()
    assert run.state == "success"
    assert revision(engine) == settings.REV_FINALIZE_INVITES
    with engine.connect() as conn:
        assert conn.execute(sa.text("SELECT count(*) FROM invites WHERE patient_id IS NULL")).scalar() == 0
        dupes = conn.execute(sa.text(
            "SELECT count(*) FROM (SELECT 1 FROM patients GROUP BY account_id, lower(btrim(email)), "
            "lower(btrim(first_name)) HAVING count(*) > 1) d")).scalar()
    assert dupes == 0
    assert len(written) > 10  # the writer really ran during the backfill


def test_auto_rollback_undoes_exactly_what_the_failed_run_applied(migration_dag, app_env, engine):
    from include.core import checksums

    with engine.connect() as conn:
        alembic_driver.upgrade(conn, settings.REV_BASELINE)
    seeder.generate(app_env, 300, 13, missing_names=1)
    with engine.connect() as conn:
        before = checksums.legacy_checksums(conn)

    run = run_dag(migration_dag, dry_run=False, auto_rollback_on_failure=True)
    assert run.state == "failed"  # the missing_name gate failed, and the run stays red
    report = report_of(run)
    assert report["auto_rollback"]["downgraded"] == [settings.REV_UPDATE_PATIENTS, settings.REV_UPDATE_INVITES,
                                                      settings.REV_CREATE_PATIENTS]
    assert report["auto_rollback"]["undone"]["invites_unlinked"] > 0
    assert revision(engine) == settings.REV_BASELINE
    with engine.connect() as conn:
        assert conn.execute(sa.text("SELECT to_regclass('public.patients')")).scalar() is None
        assert checksums.legacy_checksums(conn) == before
