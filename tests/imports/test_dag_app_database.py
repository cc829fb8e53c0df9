"""No embedded database inside an Airflow task: a worker without the connection fails its task with a
message that says what to configure, and starts no PostgreSQL of its own (it would be private to that
worker's disk: its own lease, its own data)."""

from __future__ import annotations

import json

import pytest

from include.core import db
from tests.imports.test_dag_clinic_patient_import import RUNNER

pytestmark = pytest.mark.airflow


def _run(env: dict[str, str]) -> tuple[dict, str]:
    import subprocess
    import sys

    proc = subprocess.run([sys.executable, str(RUNNER), json.dumps({"source_ids": [], "landing_root": "",
                                                                     "dry_run": True}),
                           "2025-06-02T02:00:00+00:00"], env=env, capture_output=True, text=True, timeout=900)
    lines = [line for line in proc.stdout.splitlines() if line.startswith("RESULT ")]
    assert lines, (proc.stdout + proc.stderr)[-4000:]
    return json.loads(lines[-1][len("RESULT "):]), proc.stdout + proc.stderr


@pytest.mark.parametrize("connection", ["none", "embedded_marker"])
def test_a_task_without_the_connection_fails_clearly_and_starts_no_embedded_server(airflow_env, tmp_path,
                                                                                   connection):
    pgdata = tmp_path / "worker-pgdata"
    env = {k: v for k, v in airflow_env.items() if k != db.ENV_CONN}
    env["GENASCOPE_EMBEDDED_PGDATA"] = str(pgdata)
    env["GENASCOPE_RUNS_DIR"] = str(tmp_path / "runs")
    if connection == "embedded_marker":  # what airflow_settings.yaml declares: no host, extra embedded
        env[db.ENV_CONN] = json.dumps({"conn_type": "postgres", "login": "postgres", "extra": {"embedded": True}})

    result, output = _run(env)

    assert result["state"] == "failed", result
    assert result["tasks"]["acquire_pipeline_lease[-1]"] == "failed", result
    assert result["tasks"]["import_file[-1]"] == "upstream_failed", result
    assert "AppDatabaseNotConfigured" in output and "a task never starts the embedded PostgreSQL" in output
    assert (f"neither {db.ENV_CONN} nor an Airflow connection" in output if connection == "none"
            else "names no server" in output)
    assert not pgdata.exists(), "a task started an embedded PostgreSQL of its own"


def test_outside_a_task_the_context_export_of_an_earlier_dag_test_does_not_count(monkeypatch):
    """dag.test() leaves AIRFLOW_CTX_DAG_ID in the environment of its process; the CLI, alembic and the
    tests after it are not inside a task, so they keep the embedded default."""
    import airflow.sdk.definitions._internal.contextmanager as cm

    monkeypatch.setenv("AIRFLOW_CTX_DAG_ID", "clinic_patient_import")
    assert cm._CURRENT_CONTEXT == []
    assert db.in_airflow_task() is False
    monkeypatch.setattr(cm, "_CURRENT_CONTEXT", [{"dag_id": "clinic_patient_import"}])
    assert db.in_airflow_task() is True
    monkeypatch.delenv("AIRFLOW_CTX_DAG_ID")
    assert db.in_airflow_task() is False


def test_the_embedded_uri_command_prints_the_socket_address_the_tasks_get(capsys, monkeypatch):
    from include import cli
    from include.core import embedded_db

    assert cli.main(["embedded-uri"]) == 0
    uri = capsys.readouterr().out.strip()
    assert uri == embedded_db.start()
    assert db.database_name(uri) == embedded_db.APP_DATABASE and "host=/" in uri
    monkeypatch.setenv(db.ENV_CONN, uri)
    monkeypatch.setenv("AIRFLOW_CTX_DAG_ID", "clinic_patient_import")
    # a task handed this URI (as `make airflow` does) uses exactly that server
    assert db.resolve_app_database().uri == uri
