"""The nightly import DAG: its shape (parsed without running), and one real night over the sample
clinics with ``dag.test()``; a rerun of the same night changes nothing; no PHI in task logs or output."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import sqlalchemy as sa

from include.core import alembic_driver, db, settings
from include.imports.sources import load_sources
from tests.imports.conftest import SAMPLE_CLINICS, find_phi

RUNNER = Path(__file__).with_name("dag_test_runner.py")


def run_dag(env: dict[str, str], conf: dict, logical_date: str) -> tuple[dict, str]:
    proc = subprocess.run([sys.executable, str(RUNNER), json.dumps(conf), logical_date], env=env,
                          capture_output=True, text=True, timeout=900)
    output = proc.stdout + proc.stderr
    lines = [line for line in proc.stdout.splitlines() if line.startswith("RESULT ")]
    assert proc.returncode == 0 and lines, output[-4000:]
    return json.loads(lines[-1][len("RESULT "):]), output


def test_dag_parses_with_the_documented_shape():
    import runpy

    from airflow.sdk import DAG

    module = runpy.run_path(str(settings.PROJECT_ROOT / "dags" / "clinic_patient_import.py"))
    dag = module["dag"]
    assert isinstance(dag, DAG)
    assert dag.dag_id == "clinic_patient_import" and dag.max_active_runs == 1 and dag.catchup is False
    assert dag.doc_md and "How to recover" in dag.doc_md
    assert set(dag.params.keys()) == {"source_ids", "landing_root", "dry_run"}
    assert set(dag.task_ids) == {"acquire_pipeline_lease", "discover_files", "import_file", "night_summary",
                                 "match_identities", "release_pipeline_lease", "night_needs_attention"}
    for tid in ("acquire_pipeline_lease", "import_file", "night_summary", "match_identities",
                "release_pipeline_lease"):
        assert dag.get_task(tid).pool == settings.APP_DB_POOL
    assert dag.get_task("release_pipeline_lease").is_teardown
    assert dag.get_task("night_summary").outlets
    source = (settings.PROJECT_ROOT / "dags" / "clinic_patient_import.py").read_text()
    assert "SELECT" not in source and "great_expectations" not in source


@pytest.mark.airflow
def test_a_nightly_run_over_the_sample_clinics(airflow_env, fresh_db, tmp_path, phi_tokens):
    engine = sa.create_engine(db.to_sqlalchemy_url(fresh_db))
    try:
        with engine.connect() as conn:
            alembic_driver.upgrade(conn, settings.REV_UPDATE_PATIENTS)
        with engine.begin() as conn:
            for acct in sorted({s.account_id for s in load_sources().values()}):
                conn.execute(sa.text("INSERT INTO accounts (id, name) VALUES (:i, :i)"), {"i": acct})
        landing = tmp_path / "clinics"
        shutil.copytree(SAMPLE_CLINICS, landing)
        env = {**airflow_env, db.ENV_CONN: fresh_db, "GENASCOPE_RUNS_DIR": str(tmp_path / "runs")}
        conf = {"landing_root": str(landing), "source_ids": [], "dry_run": False}

        result, output = run_dag(env, conf, "2025-06-02T02:00:00+00:00")
        assert result["state"] == "success", result
        assert result["tasks"]["import_file[2]"] == "success" and result["tasks"]["night_summary[-1]"] == "success"
        with engine.connect() as conn:
            n_patients = conn.execute(sa.text("SELECT count(*) FROM patients")).scalar()
            files = conn.execute(sa.text(
                "SELECT status, reconciled, rows_read = inserted + updated + unchanged + duplicates + quarantined "
                "FROM patient_pipeline.import_file")).all()
            fingerprint = conn.execute(sa.text(
                "SELECT md5(string_agg(p::text, ',' ORDER BY id)) FROM patients p")).scalar()
            lease = conn.execute(sa.text("SELECT count(*) FROM patient_pipeline.pipeline_lease")).scalar()
        assert n_patients > 50 and lease == 0
        assert [tuple(f) for f in files] == [("done", True, True)] * 3
        summary = json.loads(next((tmp_path / "runs").glob("clinic_patient_import/*/night_summary.json")).read_text())
        assert summary["gx_success"] is True

        # the same night again: the same bytes delivered again are recognised, nothing changes
        for processed in landing.glob("*/processed/*"):
            shutil.copyfile(processed, processed.parent.parent / "incoming" / processed.name)
        result2, output2 = run_dag(env, conf, "2025-06-03T02:00:00+00:00")
        assert result2["state"] == "success", result2
        with engine.connect() as conn:
            assert conn.execute(sa.text(
                "SELECT md5(string_agg(p::text, ',' ORDER BY id)) FROM patients p")).scalar() == fingerprint
            assert conn.execute(sa.text(
                "SELECT count(*) FROM patient_pipeline.import_file WHERE status = 'duplicate'")).scalar() == 3

        logs = "".join(p.read_text(errors="replace") for p in Path(airflow_env["AIRFLOW_HOME"]).rglob("*.log"))
        logs += "".join(p.read_text(errors="replace") for p in (Path(airflow_env["AIRFLOW_HOME"]) / "logs").rglob("*")
                        if p.is_file())
        seen = output + output2 + logs
        assert "discovered 3 file(s)" in seen and "rows staged" in seen  # the task logs were captured
        assert find_phi(seen, phi_tokens) == []
    finally:
        engine.dispose()
