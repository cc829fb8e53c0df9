"""An approval waiting and a missed deadline each send one message: the approval's with the link to answer
it (Airflow's Required actions page) and the Report tab, the deadline's through Airflow's own
``CallbackTrigger`` (what the triggerer runs when the scheduler finds the deadline missed)."""

from __future__ import annotations

import asyncio
import json

import pytest

from include import seed as seeder
from include.core import alembic_driver, settings
from tests.airflow_api import answer, api, tokens  # noqa: F401 (fixtures)
from tests.dags.test_approvals import run_with_answers
from tests.notify.conftest import BASE_URL, notification_settings
from tests.phi import seeded_phi

MIGRATION = "patient_first_migration"


@pytest.fixture
def notify_settings_env(monkeypatch, smtp_sink):
    monkeypatch.setenv("AIRFLOW_VAR_GENASCOPE_NOTIFICATIONS", json.dumps(notification_settings()))
    monkeypatch.setenv("AIRFLOW_CONN_SMTP_ONCALL", smtp_sink.connection())
    return smtp_sink


@pytest.fixture
def seeded(app_env, engine):
    with engine.connect() as conn:
        alembic_driver.upgrade(conn, settings.REV_BASELINE)
    seeder.generate(app_env, 200, 3)
    return engine


@pytest.mark.airflow
def test_an_approval_request_sends_one_message_with_the_link_to_answer_it(
        airflow_home, seeded, app_env, api, tokens, notify_settings_env):  # noqa: F811
    from airflow.dag_processing.dagbag import DagBag

    smtp_sink = notify_settings_env
    dag = DagBag(dag_folder=str(settings.PROJECT_ROOT / "dags")).dags[MIGRATION]
    seen = {}

    def at_plan(run_id, detail):
        seen["run_id"] = run_id
        seen["mails_while_waiting"] = [m.kind for m in smtp_sink.mails]

    run, errors = run_with_answers(
        dag, {"dry_run": False, "require_approval": True},
        lambda: answer(api, MIGRATION, "approval.approve_plan", "Reject", user_token=tokens["admin"], before=at_plan))

    assert errors == [] and run.state == "success"
    assert seen["mails_while_waiting"] == ["approval_waiting"]  # sent when the request was made
    assert [m.kind for m in smtp_sink.mails] == ["approval_waiting"]
    mail = smtp_sink.mails[0]
    assert "approval.approve_plan" in mail.subject
    assert (f"{BASE_URL}/dags/{MIGRATION}/runs/{run.run_id}/tasks/approval.approve_plan/required_actions"
            in mail.text)
    assert f"{BASE_URL}/dags/{MIGRATION}/runs/" in mail.text and "/plugin/genascope-report" in mail.text
    assert [s for s in seeded_phi(app_env) if s in mail.text + mail.subject] == []


def test_the_import_carries_a_deadline_and_a_missed_one_sends_one_message(monkeypatch, smtp_sink):
    import runpy

    from airflow.triggers.callback import CallbackTrigger

    monkeypatch.setenv("AIRFLOW_VAR_GENASCOPE_NOTIFICATIONS", json.dumps(notification_settings()))
    monkeypatch.setenv("AIRFLOW_CONN_SMTP_ONCALL", smtp_sink.connection())
    monkeypatch.delenv("GENASCOPE_IMPORT_DEADLINE_HOURS")  # the production default (tests turn it off)
    dag = runpy.run_path(str(settings.PROJECT_ROOT / "dags" / "clinic_patient_import.py"))["dag"]
    alerts = dag.deadline if isinstance(dag.deadline, list) else [dag.deadline]
    (alert,) = alerts
    assert alert.interval.total_seconds() == 4 * 3600  # 02:00 UTC logical date + 4 h = 06:00 UTC
    run_id = "scheduled__2025-06-02T02:00:00+00:00"
    # the simple context the scheduler hands the triggerer (airflow.models.deadline.Deadline.handle_miss)
    context = {"dag_run": {"dag_id": "clinic_patient_import", "dag_run_id": run_id, "state": "running",
                           "conf": {"source_ids": ["MRN-SECRET-1"]}},
               "deadline": {"id": "d-1", "deadline_time": "2025-06-02T06:00:00+00:00"}}
    trigger = CallbackTrigger(callback_path=alert.callback.path,
                              callback_kwargs={**alert.callback.kwargs, "context": context})

    async def run_trigger():
        return [event.payload async for event in trigger.run()]

    events = asyncio.run(run_trigger())

    assert events[-1]["state"] == "success", events
    assert [m.kind for m in smtp_sink.mails] == ["deadline_missed"]
    mail = smtp_sink.mails[0]
    assert "deadline_missed:finished_within_4h" in mail.text and run_id in mail.subject
    assert f"{BASE_URL}/dags/clinic_patient_import/runs/" in mail.text and "MRN-SECRET" not in mail.text
