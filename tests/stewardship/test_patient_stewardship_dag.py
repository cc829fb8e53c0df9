"""The stewardship DAG: its shape (parsed without running), a real merge through ``dag.test()`` with the
lease, the action log's actor and the run report, a run without confirmation that changes nothing, and no
PHI in the task logs or output."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
import sqlalchemy as sa

from include.core import alembic_driver, db, pipeline_schema, settings
from tests.imports.conftest import airflow_env  # noqa: F401  (the session's Airflow home for dag.test())
from tests.phi import seeded_phi

RUNNER = Path(__file__).with_name("dag_test_runner.py")
DAG_FILE = settings.PROJECT_ROOT / "dags" / "patient_stewardship.py"
PATIENT_PHI = ("mia.merge@example.com", "Mia", "Merge", "+15550001111", "1980-02-01", "Zora", "Keep")


def run_dag(env: dict[str, str], conf: dict) -> tuple[dict, str]:
    proc = subprocess.run([sys.executable, str(RUNNER), json.dumps(conf)], env=env, capture_output=True, text=True,
                          timeout=900)
    output = proc.stdout + proc.stderr
    lines = [line for line in proc.stdout.splitlines() if line.startswith("RESULT ")]
    assert proc.returncode == 0 and lines, output[-4000:]
    return json.loads(lines[-1][len("RESULT "):]), output


def test_dag_parses_with_the_documented_shape():
    import runpy

    from airflow.sdk import DAG

    dag = runpy.run_path(str(DAG_FILE))["dag"]
    assert isinstance(dag, DAG)
    assert dag.dag_id == "patient_stewardship" and dag.schedule is None and dag.max_active_runs == 1
    assert dag.doc_md and "## Recovery" in dag.doc_md and "## Params" in dag.doc_md
    assert dag.params["dry_run"] is True and dag.params["confirm"] in ("", None)
    assert set(dag.task_ids) == {"validate_request", "acquire_pipeline_lease", "run_action", "write_run_report",
                                 "release_pipeline_lease", "fail_run_if_any_step_failed"}
    for tid in ("acquire_pipeline_lease", "run_action", "write_run_report", "release_pipeline_lease"):
        assert dag.get_task(tid).pool == settings.APP_DB_POOL
    source = DAG_FILE.read_text()
    assert "SELECT" not in source and "UPDATE" not in source


@pytest.fixture
def seeded(fresh_db: str) -> sa.Engine:
    engine = sa.create_engine(db.to_sqlalchemy_url(fresh_db))
    with engine.connect() as conn:
        alembic_driver.upgrade(conn, settings.REV_UPDATE_PATIENTS)
        pipeline_schema.ensure(conn)
    with engine.begin() as conn:
        for statement in (
            "INSERT INTO accounts (id, name) VALUES ('acct-1', 'North')",
            "INSERT INTO users (id, name, email, role, account_id) VALUES "
            "('u-m', 'Mia Merge', 'mia.merge@example.com', 'patient', 'acct-1')",
            "INSERT INTO patients (id, account_id, external_id, email, first_name, last_name, phone, date_of_birth, "
            "status, user_id) VALUES "
            "('p-s', 'acct-1', 'MRN-1', NULL, 'Mia', 'Merge', NULL, NULL, 'pending', NULL), "
            "('p-m', 'acct-1', NULL, 'mia.merge@example.com', 'Mia', 'Merge', '+15550001111', '1980-02-01', "
            " 'active', 'u-m'), "
            "('p-k', 'acct-1', NULL, 'zora@example.com', 'Zora', 'Keep', NULL, NULL, 'pending', NULL)",
            "INSERT INTO invites (id, email, first_name, last_name, invite_token, status, patient_id) VALUES "
            "('inv-m', 'mia.merge@example.com', 'Mia', 'Merge', 't1', 'accepted', 'p-m')",
            "INSERT INTO chat_sessions (id, user_id, patient_id) VALUES ('cs-m', 'u-m', 'p-m')",
        ):
            conn.execute(sa.text(statement))
    try:
        yield engine
    finally:
        engine.dispose()


@pytest.mark.airflow
def test_a_merge_through_the_dag_is_leased_recorded_reported_and_logs_no_phi(airflow_env, seeded, fresh_db,  # noqa: F811
                                                                              tmp_path):
    env = {**airflow_env, db.ENV_CONN: fresh_db, "GENASCOPE_RUNS_DIR": str(tmp_path / "runs")}
    base = {"action": "merge", "survivor_id": "p-s", "merged_id": "p-m", "actor": "steward-ann"}

    # no confirmation: the run fails at validate_request and the database is untouched
    refused, out1 = run_dag(env, {**base, "dry_run": False, "confirm": ""})
    assert refused["state"] == "failed" and refused["tasks"]["validate_request"] == "failed"
    assert refused["tasks"]["run_action"] == "upstream_failed"
    with seeded.connect() as conn:
        assert conn.execute(sa.text("SELECT status FROM patients WHERE id = 'p-m'")).scalar() == "active"

    result, out2 = run_dag(env, {**base, "dry_run": False, "confirm": "MERGE"})
    assert result["state"] == "success", result
    with seeded.connect() as conn:
        assert conn.execute(sa.text("SELECT id, status, user_id FROM patients WHERE id IN ('p-s', 'p-m') "
                                    "ORDER BY id")).all() == [("p-m", "archived", None), ("p-s", "pending", "u-m")]
        assert conn.execute(sa.text("SELECT patient_id FROM invites")).scalar() == "p-s"
        log_rows = conn.execute(sa.text("SELECT action, status, actor, origin, dag_run_id FROM "
                                        "patient_pipeline.steward_action")).all()
        assert conn.execute(sa.text("SELECT count(*) FROM patient_pipeline.pipeline_lease")).scalar() == 0
    # the run's triggering user (dag.test() triggers as "dag_test") wins over the conf's "actor"
    assert [tuple(r[:4]) for r in log_rows] == [("merge", "applied", "dag_test", "dag")]
    assert log_rows[0][4] == result["run_id"]
    reports = [json.loads(r.read_text()) for r in (tmp_path / "runs" / "patient_stewardship").glob("*/report.json")]
    (report,) = [r for r in reports if r["run_id"] == result["run_id"]]
    assert report["results"][0]["status"] == "applied" and report["results"][0]["counts"]["invites_moved"] == 1
    # the refused run's report says why (the reason validate_request recorded), not "see the log"
    (refused_report,) = [r for r in reports if r["run_id"] == refused["run_id"]]
    assert refused_report["error"].startswith("no action ran (confirmation_missing: ")
    assert refused_report["status"] == "failed: confirmation_missing in validate_request"
    assert [f["task_id"] for f in refused_report["failures"]] == ["validate_request"]

    home = Path(airflow_env["AIRFLOW_HOME"])
    logs = "".join(p.read_text(errors="replace") for p in home.rglob("*") if p.is_file() and p.suffix in (".log", "")
                   and "airflow.db" not in p.name)
    seen = out1 + out2 + logs + "".join(r.read_text() for r in (tmp_path / "runs").rglob("report.*"))
    assert "stewardship merge: applied" in seen  # the task log was captured
    leaked = [s for s in (*PATIENT_PHI, *seeded_phi(fresh_db)) if len(s) >= 4 and s in seen]
    assert leaked == []
