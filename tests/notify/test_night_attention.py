"""The night's last task of ``clinic_patient_import``: a held file and an expected source that delivered
nothing each send one message (reason codes, counts, the Report-tab link, no value of the file); the
night's counts reach a real StatsD receiver and the asset event; the task fails so the grid shows it."""

from __future__ import annotations

import json

import pytest
import sqlalchemy as sa
import yaml

from include.core import alembic_driver, db, settings
from tests.notify.conftest import BASE_URL, notify_env
from tests.notify.test_task_failure_notification import run_dag

ACCOUNT = "acct-notify-test"
HEADER = "email,first_name,last_name,phone,external_id,date_of_birth\n"
GOOD = [f"nora.seeded{i}@example.org,Nora{i}x,Seededson,+1555010{i:04d},MRN-SEED-{i},1971-03-0{i + 1}"
        for i in range(4)]
BAD = [f"quinn.hidden{i}@example.org,,,+1555020{i:04d},MRN-HIDE-{i},1982-04-0{i + 1}" for i in range(6)]
SEEDED_VALUES = ("nora.seeded", "Seededson", "quinn.hidden", "MRN-SEED", "MRN-HIDE", "+1555010", "1971-03-0")


@pytest.fixture
def night(airflow_env, engine, fresh_db, tmp_path, smtp_sink, metrics_sink):  # noqa: F811
    with engine.connect() as conn:
        alembic_driver.upgrade(conn, settings.REV_UPDATE_PATIENTS)
    with engine.begin() as conn:
        conn.execute(sa.text("INSERT INTO accounts (id, name) VALUES (:i, :i)"), {"i": ACCOUNT})
    landing = tmp_path / "landing"
    for folder in ("clinic-held", "clinic-quiet"):
        (landing / folder / "incoming").mkdir(parents=True)
    (landing / "clinic-held" / "incoming" / "patients_2025-06-02.csv").write_text(
        HEADER + "".join(r + "\n" for r in GOOD + BAD), encoding="utf-8")
    sources = {"sources": [
        {"id": "clinic-held-csv", "account_id": ACCOUNT, "format": "csv", "landing": str(landing / "clinic-held"),
         "max_reject_ratio": 0.2, "expect": "daily"},
        {"id": "clinic-quiet-csv", "account_id": ACCOUNT, "format": "csv", "landing": str(landing / "clinic-quiet"),
         "expect": "daily"}],
        "landing_roots": [str(landing)]}
    sources_file = tmp_path / "sources.yaml"
    sources_file.write_text(yaml.safe_dump(sources), encoding="utf-8")
    env = {**airflow_env, db.ENV_CONN: fresh_db, "GENASCOPE_RUNS_DIR": str(tmp_path / "runs"),
           "GENASCOPE_CLINIC_SOURCES": str(sources_file), **notify_env(smtp_sink, metrics_sink)}
    return env


def assert_no_seeded_value(texts: list[str]) -> None:
    blob = "\n".join(texts)
    assert [v for v in SEEDED_VALUES if v in blob] == []


@pytest.mark.airflow
def test_a_held_file_sends_one_attention_message_and_its_counts_reach_metrics_and_the_asset_event(
        night, smtp_sink, metrics_sink):
    result, output = run_dag(night, "clinic_patient_import",
                             {"source_ids": ["clinic-held-csv"], "landing_root": "", "dry_run": False},
                             "2025-06-02T02:00:00+00:00")

    assert result["tasks"]["import_file[0]"] == "success" and result["tasks"]["night_summary[-1]"] == "success"
    assert result["tasks"]["night_needs_attention[-1]"] == "failed" and result["state"] == "failed"
    assert [m.kind for m in smtp_sink.mails] == ["night_attention"]  # the failing last task adds no second one
    mail = smtp_sink.mails[0]
    assert "file_held:reject_ratio_exceeded" in mail.text and "rows_read" in mail.text
    assert "clinic-held-csv" in mail.text and "clinic-quiet-csv" not in mail.text
    assert f"{BASE_URL}/dags/clinic_patient_import/runs/" in mail.text and "/plugin/genascope-report" in mail.text

    tags = {"source": "clinic-held-csv", "dag_id": "clinic_patient_import"}
    assert metrics_sink.value("airflow.genascope.import.rows_read", **tags) == 10
    assert metrics_sink.value("airflow.genascope.import.quarantined", **tags) == 6
    assert metrics_sink.value("airflow.genascope.import.held_files", **tags) == 1
    assert metrics_sink.value("airflow.genascope.import.held_rows", **tags) == 10
    assert metrics_sink.value("airflow.genascope.import.inserted", **tags) == 0
    assert metrics_sink.value("airflow.genascope.import.quarantine_ratio", **tags) == pytest.approx(0.6)
    assert metrics_sink.value("airflow.genascope.import.attention", dag_id="clinic_patient_import") >= 1
    assert metrics_sink.value("airflow.genascope.notify.sent", kind="night_attention") == 1

    (extra,) = result["asset_events"]
    assert extra["version"] == 1 and extra["held_files"]
    assert extra["sources"]["clinic-held-csv"]["rows_read"] == 10
    assert extra["sources"]["clinic-held-csv"]["files_by_status"] == {"held": 1}
    assert_no_seeded_value([mail.text, mail.subject, metrics_sink.text(), json.dumps(extra)])
    assert_no_seeded_value([output])


@pytest.mark.airflow
def test_an_expected_source_with_nothing_in_incoming_sends_one_missing_delivery_message(night, smtp_sink):
    result, _ = run_dag(night, "clinic_patient_import",
                        {"source_ids": ["clinic-quiet-csv"], "landing_root": "", "dry_run": False},
                        "2025-06-02T02:00:00+00:00")

    assert result["tasks"]["night_needs_attention[-1]"] == "failed"
    assert [m.kind for m in smtp_sink.mails] == ["night_attention"]
    mail = smtp_sink.mails[0]
    assert "expected_delivery_missing:clinic-quiet-csv" in mail.text
    assert f"{BASE_URL}/dags/clinic_patient_import/runs/" in mail.text


def test_a_quiet_night_needs_no_attention_and_a_weekday_source_is_not_expected_on_sunday():
    from datetime import date

    from include.imports.sources import source_from_dict
    from include.notify import night
    from include.notify import settings as notify_settings

    sunday = date(2025, 6, 1)
    weekdays = source_from_dict({"id": "w", "account_id": "a", "format": "csv", "landing": "/tmp/w",
                                 "expect": "weekdays"})
    verdict = night.evaluate([], [weekdays], notify_settings.parse(None), sunday, summary={"gx_success": True})
    assert not verdict.needs_attention
    monday = night.evaluate([], [weekdays], notify_settings.parse(None), date(2025, 6, 2), summary={})
    assert monday.reasons == {"expected_delivery_missing:w": 1}


def test_notification_settings_name_the_key_to_fix():
    from include.notify.settings import NotificationSettingsError, parse

    with pytest.raises(NotificationSettingsError, match="default"):
        parse({"channels": {}, "default": ["nope"]})
    with pytest.raises(NotificationSettingsError, match="channels.m"):
        parse({"channels": {"m": {"kind": "smtp", "conn_id": "smtp_default"}}})
    with pytest.raises(NotificationSettingsError, match="not valid JSON"):
        parse("{")
