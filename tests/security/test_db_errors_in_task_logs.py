"""A database error inside any DAG's task never carries a row into the task log.

Each test forces a CHECK violation (``NOT VALID``: the existing rows stay, new rows must pass it) that
the DAG's own writes hit: PostgreSQL then reports ``DETAIL: Failing row contains (…)`` with the row's
e-mail, names and phone, and SQLAlchemy appends the statement's parameters. The task log must show the
sanitized error (SQLSTATE, constraint, relation) and no seeded value."""

from __future__ import annotations

import shutil

import pytest
import sqlalchemy as sa

from include import backfill
from include import seed as seeder
from include.core import alembic_driver, pipeline_schema, settings
from include.imports.sources import load_sources
from tests.imports.conftest import SAMPLE_CLINICS, find_phi, sample_phi_tokens
from tests.phi import seeded_phi
from tests.security.conftest import airflow_logs, assert_sanitized_db_failure, run_dag

pytestmark = pytest.mark.airflow


@pytest.fixture
def runs(tmp_path, monkeypatch):
    monkeypatch.setattr(settings, "RUNS_DIR", tmp_path / "runs")
    return tmp_path / "runs"


def _seeded(engine, uri: str, revision: str) -> None:
    with engine.connect() as conn:
        alembic_driver.upgrade(conn, settings.REV_BASELINE)
    seeder.generate(uri, 150, 23)
    with engine.connect() as conn:
        alembic_driver.upgrade(conn, revision)


def test_a_check_violation_in_the_migration_backfill_logs_no_patient_row(dags, app_env, engine, runs,
                                                                        airflow_home, capfd):
    _seeded(engine, app_env, settings.REV_UPDATE_PATIENTS)
    with engine.begin() as conn:
        conn.execute(sa.text("ALTER TABLE patients ADD CONSTRAINT ck_forced_no_email CHECK (email IS NULL) NOT VALID"))
    run = run_dag(dags["patient_first_migration"], retries=0, dry_run=False)
    assert run.state == "failed"
    ti = next(t for t in run.get_task_instances() if t.task_id == "backfill.create_patients")
    assert str(ti.state) == "failed"
    out, err = capfd.readouterr()
    logs = out + err + airflow_logs(airflow_home)
    assert_sanitized_db_failure(logs, "ck_forced_no_email")
    assert [s for s in seeded_phi(app_env) if s in logs] == []


def test_a_check_violation_in_the_rollback_archive_logs_no_patient_row(dags, app_env, engine, runs,
                                                                      airflow_home, capfd):
    _seeded(engine, app_env, settings.REV_UPDATE_PATIENTS)
    with engine.connect() as conn:
        backfill.run_all(conn, backfill.BackfillOptions(run_id="security-test-backfill"))
        alembic_driver.upgrade(conn, settings.REV_FINALIZE_INVITES)
        pipeline_schema.ensure(conn)
    with engine.begin() as conn:
        conn.execute(sa.text("ALTER TABLE patient_pipeline.archived_patients "
                             "ADD CONSTRAINT ck_forced_archive CHECK (false) NOT VALID"))
    run = run_dag(dags["patient_first_rollback"], retries=0, target_revision=settings.REV_BASELINE,
                  dry_run=False, confirm="ROLLBACK")
    assert run.state == "failed"
    with engine.connect() as conn:  # nothing was dropped
        assert alembic_driver.current_revision(conn) == settings.REV_FINALIZE_INVITES
    out, err = capfd.readouterr()
    logs = out + err + airflow_logs(airflow_home)
    assert_sanitized_db_failure(logs, "ck_forced_archive")
    assert [s for s in seeded_phi(app_env) if s in logs] == []


def test_a_check_violation_in_the_import_merge_logs_no_patient_row(dags, app_env, engine, runs, tmp_path,
                                                                   airflow_home, capfd):
    with engine.connect() as conn:
        alembic_driver.upgrade(conn, settings.REV_UPDATE_PATIENTS)
    with engine.begin() as conn:
        for acct in sorted({s.account_id for s in load_sources().values()}):
            conn.execute(sa.text("INSERT INTO accounts (id, name) VALUES (:i, :i)"), {"i": acct})
        conn.execute(sa.text("ALTER TABLE patients ADD CONSTRAINT ck_forced_import CHECK (email IS NULL) NOT VALID"))
    landing = tmp_path / "landing"
    shutil.copytree(SAMPLE_CLINICS, landing)
    run = run_dag(dags["clinic_patient_import"], retries=0, landing_root=str(landing), source_ids=[],
                  dry_run=False)
    states = {f"{t.task_id}[{t.map_index}]": str(t.state) for t in run.get_task_instances()}
    assert run.state == "failed", states
    assert states.get("import_file[0]") == "failed", states
    with engine.connect() as conn:
        assert conn.execute(sa.text("SELECT count(*) FROM patients")).scalar() == 0
    out, err = capfd.readouterr()
    logs = out + err + airflow_logs(airflow_home)
    assert_sanitized_db_failure(logs, "ck_forced_import")
    assert find_phi(logs, sample_phi_tokens()) == []
