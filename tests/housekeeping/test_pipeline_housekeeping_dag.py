"""The housekeeping DAG removes exactly what is past its age, on local storage and on S3 (moto), and keeps
what undo or an open review still needs; a dry run first removes nothing and reports the same counts."""

from __future__ import annotations

import json
import os
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import sqlalchemy as sa
import yaml

from include.core import db, pipeline_schema
from tests.imports.conftest import airflow_env  # noqa: F401 (fixture)
from tests.notify.test_task_failure_notification import run_dag

pytestmark = pytest.mark.airflow
NOW = datetime.now(UTC).replace(microsecond=0)


def ago(days: float) -> datetime:
    return (NOW - timedelta(days=days)).replace(tzinfo=None)


def backdate(path: Path, days: float) -> None:
    ts = (NOW - timedelta(days=days)).timestamp()
    os.utime(path, (ts, ts))


def write(path: Path, text: str, days: float | None = None) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    if days is not None:
        backdate(path, days)
    return path


def seed_pipeline_rows(engine: sa.Engine) -> dict[str, int]:
    """Three import files: f1 old with an open review item, f2 old (one quarantine row still open), f3 young."""
    with engine.connect() as conn:
        pipeline_schema.ensure(conn)
    with engine.begin() as conn:
        ids = {}
        for name in ("f1", "f2", "f3"):
            ids[name] = conn.execute(sa.text(
                "INSERT INTO patient_pipeline.import_file (source_id, account_id, file_name, location, sha256, "
                "size_bytes, status) VALUES ('clinic-a', 'acct-a', :n, '/x', repeat(:c, 64), 1, 'done') "
                "RETURNING file_id"), {"n": name, "c": name[-1]}).scalar()
        prev = json.dumps({"phone": "+15550009999", "first_name": "Wilhelmina"})
        changes = [(ids["f1"], 40), (ids["f1"], 40), (ids["f2"], 40), (ids["f2"], 40), (ids["f2"], 40),
                   (ids["f3"], 5)]
        for i, (fid, days) in enumerate(changes):
            conn.execute(sa.text(
                "INSERT INTO patient_pipeline.import_change_log (file_id, patient_id, change_kind, changed_fields, "
                "previous_values, changed_at) VALUES (:f, :p, 'update', ARRAY['phone'], CAST(:v AS jsonb), :t)"),
                {"f": fid, "p": f"p-{i}", "v": prev, "t": ago(days)})
        conn.execute(sa.text("INSERT INTO patient_pipeline.import_review (file_id, record_no, kind) VALUES (:f, 1, "
                             "'name_dob_lookalike')"), {"f": ids["f1"]})
        raw = json.dumps({"first_name": "Wilhelmina", "email": "wilhelmina@example.org"})
        for fid, rec, days, resolved in ((ids["f2"], 1, 100, True), (ids["f2"], 2, 100, True),
                                          (ids["f2"], 3, 100, False), (ids["f3"], 1, 5, True)):
            conn.execute(sa.text(
                "INSERT INTO patient_pipeline.import_quarantine (file_id, record_no, reason_code, raw_values, "
                "decided_by, quarantined_at, resolved_at) VALUES (:f, :r, 'missing_name', CAST(:v AS jsonb), "
                "'normalizer', :t, CASE WHEN :res THEN :t END)"),
                {"f": fid, "r": rec, "v": raw, "t": ago(days), "res": resolved})
        for key, days in (("k-old-1", 10), ("k-old-2", 10), ("k-young", 1)):
            conn.execute(sa.text(
                "INSERT INTO patient_pipeline.api_idempotency (account_id, idempotency_key, body_sha256, status, "
                "response, created_at) VALUES ('acct-a', :k, repeat('b', 64), 200, '{}'::jsonb, :t)"),
                {"k": key, "t": ago(days)})
    return ids


def db_state(engine: sa.Engine) -> dict[str, int]:
    with engine.connect() as conn:
        return {
            "quarantine_raw": conn.execute(sa.text(
                "SELECT count(*) FROM patient_pipeline.import_quarantine WHERE raw_values IS NOT NULL")).scalar(),
            "quarantine_rows": conn.execute(sa.text("SELECT count(*) FROM patient_pipeline.import_quarantine")).scalar(),
            "previous_values": conn.execute(sa.text(
                "SELECT count(*) FROM patient_pipeline.import_change_log WHERE previous_values IS NOT NULL")).scalar(),
            "change_log_rows": conn.execute(sa.text("SELECT count(*) FROM patient_pipeline.import_change_log")).scalar(),
            "idempotency": conn.execute(sa.text("SELECT count(*) FROM patient_pipeline.api_idempotency")).scalar(),
            "ledger": conn.execute(sa.text("SELECT count(*) FROM patient_pipeline.import_file")).scalar(),
        }


def sources_env(tmp_path: Path, landing: str) -> str:
    doc = {"sources": [{"id": "clinic-a", "account_id": "acct-a", "format": "csv", "landing": landing}]}
    path = tmp_path / "sources.yaml"
    path.write_text(yaml.safe_dump(doc), encoding="utf-8")
    return str(path)


def test_housekeeping_on_local_storage_dry_run_first_then_removes_exactly_what_is_past_its_age(
        airflow_env, engine, fresh_db, tmp_path):  # noqa: F811
    ids = seed_pipeline_rows(engine)
    runs, landing = tmp_path / "runs", tmp_path / "landing" / "clinic-a"
    f1, f2 = ids["f1"], ids["f2"]
    removed_files = [
        write(runs / "clinic_patient_import" / "r_old" / "imports" / f"file_{f1}_quarantine.csv", "x", 40),
        write(runs / "patient_stewardship" / "r_old" / "worklist.csv", "x", 40),
        write(landing / "processed" / "old.csv", "x", 40),
        write(landing / "rejected" / "old.csv", "x", 70),
        write(landing / "rejected" / "old.csv.reason.json", "{}", 70),
    ]
    kept_files = [
        write(runs / "clinic_patient_import" / "r_old" / "imports" / f"file_{f2}_quarantine.csv", "x", 40),  # open row
        write(runs / "clinic_patient_import" / "r_old" / "night_summary.json", "{}", 40),  # counts, not PHI
        write(runs / "patient_first_rollback" / "r_young" / "archive_export.ndjson", "x", 2),
        write(landing / "processed" / "young.csv", "x", 5),
        write(landing / "rejected" / "mid.csv", "x", 40),
    ]
    (landing / "incoming").mkdir(parents=True)
    env = {**airflow_env, db.ENV_CONN: fresh_db, "GENASCOPE_RUNS_DIR": str(runs),
           "GENASCOPE_CLINIC_SOURCES": sources_env(tmp_path, str(landing))}
    before = db_state(engine)
    expected = {"quarantine_raw_values": 2, "previous_values": 3, "idempotency_rows": 2, "run_files": 2,
                "processed_deliveries": 1, "rejected_deliveries": 2}
    expected_kept = {"quarantine_raw_values_open_rows": 1, "previous_values_open_review": 2,
                     "run_files_open_quarantine": 1}

    dry, _ = run_dag(env, "pipeline_housekeeping", {"dry_run": True, "as_of": "", "landing_root": ""})
    assert dry["state"] == "success", dry
    assert db_state(engine) == before and all(p.exists() for p in removed_files + kept_files)
    (dry_report,) = [json.loads(p.read_text()) for p in runs.glob("pipeline_housekeeping/*/report.json")]
    assert dry_report["dry_run"] is True and dry_report["would_remove"] == expected
    assert dry_report["kept_because_needed"] == expected_kept

    real, _ = run_dag(env, "pipeline_housekeeping", {"dry_run": False, "as_of": "", "landing_root": ""})
    assert real["state"] == "success", real
    assert [p for p in removed_files if p.exists()] == []
    assert [p for p in kept_files if not p.exists()] == []
    assert db_state(engine) == {**before, "quarantine_raw": before["quarantine_raw"] - 2,
                                "previous_values": before["previous_values"] - 3,
                                "idempotency": before["idempotency"] - 2}
    with engine.connect() as conn:  # undo still possible for the file under review, and the young one
        kept_prev = conn.execute(sa.text(
            "SELECT file_id, count(*) FROM patient_pipeline.import_change_log WHERE previous_values IS NOT NULL "
            "GROUP BY file_id ORDER BY file_id")).all()
        open_raw = conn.execute(sa.text(
            "SELECT file_id, record_no FROM patient_pipeline.import_quarantine WHERE raw_values IS NOT NULL "
            "ORDER BY 1, 2")).all()
    assert [tuple(r) for r in kept_prev] == [(f1, 2), (ids["f3"], 1)]
    assert [tuple(r) for r in open_raw] == [(f2, 3), (ids["f3"], 1)]
    reports = [json.loads(p.read_text()) for p in runs.glob("pipeline_housekeeping/*/report.json")]
    (real_report,) = [r for r in reports if r["dry_run"] is False]
    assert real_report["removed"] == expected and real_report["kept_because_needed"] == expected_kept
    text = json.dumps(reports)
    assert "Wilhelmina" not in text and "+15550009999" not in text
    assert not (runs / "patient_stewardship" / "r_old").exists()  # emptied run folder removed


def test_housekeeping_on_s3_removes_exactly_the_objects_past_their_age(
        airflow_env, engine, fresh_db, tmp_path, s3_server):  # noqa: F811
    import s3fs

    with engine.connect() as conn:
        pipeline_schema.ensure(conn)
    base = f"genascope-test/{uuid.uuid4().hex[:8]}"
    fs = s3fs.S3FileSystem(client_kwargs={"endpoint_url": s3_server.endpoint_url}, key="testing", secret="testing")
    old = [f"{base}/runs/clinic_patient_import/r1/imports/file_999_quarantine.csv",
           f"{base}/runs/patient_first_rollback/r1/archive_export.ndjson",
           f"{base}/landing/clinic-a/processed/old.csv",
           f"{base}/landing/clinic-a/rejected/old.csv"]
    old_not_phi = [f"{base}/runs/clinic_patient_import/r1/night_summary.json"]
    for key in old + old_not_phi:
        fs.pipe(key, b"x")
    time.sleep(2.5)
    middle = datetime.now(UTC)
    time.sleep(2.5)
    young = [f"{base}/runs/patient_stewardship/r2/worklist.csv", f"{base}/landing/clinic-a/processed/young.csv",
             f"{base}/landing/clinic-a/rejected/young.csv"]
    for key in young:
        fs.pipe(key, b"x")
    retention = {"run_files_days": 30, "processed_days": 30, "rejected_days": 30}
    env = {**airflow_env, **s3_server.env(), db.ENV_CONN: fresh_db, "GENASCOPE_RUNS_DIR": f"s3://{base}/runs",
           "GENASCOPE_CLINIC_SOURCES": sources_env(tmp_path, f"s3://{base}/landing/clinic-a"),
           "AIRFLOW_VAR_GENASCOPE_RETENTION": json.dumps(retention)}
    as_of = (middle + timedelta(days=30)).isoformat()

    result, _ = run_dag(env, "pipeline_housekeeping", {"dry_run": False, "as_of": as_of, "landing_root": ""})

    assert result["state"] == "success", result
    fs.invalidate_cache()
    assert [k for k in old if fs.exists(k)] == []
    assert [k for k in young + old_not_phi if not fs.exists(k)] == []
    (report_key,) = fs.glob(f"{base}/runs/pipeline_housekeeping/*/report.json")
    report = json.loads(fs.cat(report_key))
    assert report["removed"]["run_files"] == 2
    assert report["removed"]["processed_deliveries"] == 1 and report["removed"]["rejected_deliveries"] == 1
