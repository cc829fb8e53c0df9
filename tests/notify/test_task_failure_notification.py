"""A task that fails for good sends one message (SMTP and the Apprise webhook) naming the DAG, the run,
the task and the exception's type, with the link to the run's Report tab; never a value of the request."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from include.core import alembic_driver, db, pipeline_schema, settings
from tests.notify.conftest import BASE_URL, notify_env

RUNNER = Path(__file__).with_name("dag_test_runner.py")


def run_dag(env: dict[str, str], stem: str, conf: dict, logical_date: str | None = None) -> tuple[dict, str]:
    args = [sys.executable, str(RUNNER), stem, json.dumps(conf)] + ([logical_date] if logical_date else [])
    proc = subprocess.run(args, env=env, capture_output=True, text=True, timeout=900)
    output = proc.stdout + proc.stderr
    lines = [line for line in proc.stdout.splitlines() if line.startswith("RESULT ")]
    assert proc.returncode == 0 and lines, output[-4000:]
    return json.loads(lines[-1][len("RESULT "):]), output


@pytest.mark.airflow
def test_a_failed_task_sends_one_message_per_channel_with_the_report_link_and_no_value(
        airflow_env, engine, fresh_db, tmp_path, smtp_sink, webhook_sink):
    with engine.connect() as conn:
        alembic_driver.upgrade(conn, settings.REV_UPDATE_PATIENTS)
        pipeline_schema.ensure(conn)
    env = {**airflow_env, db.ENV_CONN: fresh_db, "GENASCOPE_RUNS_DIR": str(tmp_path / "runs"),
           **notify_env(smtp_sink, webhook=webhook_sink)}
    secret_ids = ("p-survivor-SEEKRIT", "p-merged-SEEKRIT")
    conf = {"action": "merge", "survivor_id": secret_ids[0], "merged_id": secret_ids[1], "dry_run": False,
            "confirm": "", "actor": "steward-ann"}

    result, _ = run_dag(env, "patient_stewardship", conf)

    assert result["state"] == "failed" and result["tasks"]["validate_request[-1]"] == "failed"
    # one message: validate_request; the red-run watcher repeats it and stays silent
    assert len(smtp_sink.mails) == 1, [m.subject for m in smtp_sink.mails]
    mail = smtp_sink.mails[0]
    assert mail.kind == "task_failed" and mail.to == ["oncall@example.org"]
    assert "patient_stewardship.validate_request" in mail.subject and result["run_id"] in mail.subject
    assert "AirflowFailException" in mail.text
    report = f"{BASE_URL}/dags/patient_stewardship/runs/"
    assert report in mail.text and "/plugin/genascope-report" in mail.text
    assert len(webhook_sink.posts) == 1
    post = webhook_sink.posts[0]
    assert "validate_request" in post["title"] and report in post["message"]
    everything = "\n".join([*(m.text + m.subject for m in smtp_sink.mails), json.dumps(webhook_sink.posts)])
    assert not [s for s in (*secret_ids, "steward-ann") if s in everything]
