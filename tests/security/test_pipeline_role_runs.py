"""The three DAGs as the least-privilege role ``genascope_pipeline`` with a password in the connection
URL: migration, nightly import and rollback all succeed with exactly the grants of
include/sql/security/pipeline_role.sql; afterwards the password is nowhere under the runs root, the
landing or the task logs, and every file the runs wrote is owner-only (0600) in 0700 folders."""

from __future__ import annotations

import os
import stat

import psycopg
import pytest

from include.core import private_files, settings
from tests.phi import seeded_phi
from tests.security.conftest import airflow_logs, files_under, run_dag, text_of

pytestmark = pytest.mark.airflow


def test_the_dags_run_as_the_pipeline_role_and_write_no_password_and_only_owner_only_files(
        dags, role_db, airflow_home, capfd):
    with psycopg.connect(role_db.admin_uri) as conn:
        attrs = conn.execute("SELECT rolsuper, rolcreatedb, rolcreaterole, rolreplication, rolbypassrls "
                             "FROM pg_roles WHERE rolname = %s", (role_db.role,)).fetchone()
    assert attrs == (False, False, False, False, False)  # no superuser, nothing but LOGIN

    migration = run_dag(dags["patient_first_migration"], dry_run=False)
    assert migration.state == "success"
    night = run_dag(dags["clinic_patient_import"], landing_root=str(role_db.landing), source_ids=[], dry_run=False)
    assert night.state == "success"
    rollback = run_dag(dags["patient_first_rollback"], target_revision=settings.REV_BASELINE, dry_run=False,
                       confirm="ROLLBACK")
    assert rollback.state == "success"
    with psycopg.connect(role_db.admin_uri) as conn:
        assert conn.execute("SELECT version_num FROM alembic_version").fetchone()[0] == settings.REV_BASELINE
        archived = conn.execute("SELECT count(*) FROM patient_pipeline.archived_patients").fetchone()[0]
        imported = conn.execute("SELECT sum(inserted) FROM patient_pipeline.import_file").fetchone()[0]
        owner = conn.execute("SELECT nspowner::regrole::text FROM pg_namespace "
                             "WHERE nspname = 'patient_pipeline'").fetchone()[0]
    assert imported > 0 and archived > imported  # backfilled and imported patients were archived
    assert owner == role_db.role

    out, err = capfd.readouterr()
    logs = out + err + airflow_logs(airflow_home)
    assert "patient_first_rollback" in logs and "clinic_patient_import" in logs  # task logs were captured
    written = text_of(role_db.runs, role_db.landing)
    assert role_db.password not in logs, "the database password is in a task log"
    assert role_db.password not in written, "the database password was written under the runs root or landing"
    assert [s for s in seeded_phi(role_db.admin_uri) if s in logs] == []

    # owner-only: every file under the runs root, and the moved deliveries with their folders
    run_files = files_under(role_db.runs)
    kinds = {p.suffix for p in run_files}
    assert {".json", ".md", ".csv", ".ndjson", ".html"} <= kinds  # reports, quarantine, archive, Data Docs
    loose = {str(p.relative_to(role_db.runs)): oct(private_files.mode_of(p)) for p in run_files
             if private_files.mode_of(p) != 0o600}
    assert loose == {}
    folders = [role_db.runs, *[p for p in role_db.runs.rglob("*") if p.is_dir()]]
    assert {str(p): oct(private_files.mode_of(p)) for p in folders if private_files.mode_of(p) != 0o700} == {}
    moved = [p for p in role_db.landing.glob("*/processed/*")] + [p for p in role_db.landing.glob("*/rejected/*")]
    assert moved, "the night moved its deliveries"
    assert {p.name: oct(private_files.mode_of(p)) for p in moved if private_files.mode_of(p) != 0o600} == {}
    for sub in {p.parent for p in moved}:
        assert stat.S_IMODE(os.lstat(sub).st_mode) == 0o700, sub
