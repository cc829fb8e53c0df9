"""The nightly import with its landing and its runs root on S3 (a moto server on 127.0.0.1), through the
same code as local folders: discovery, fingerprint and streaming parse from the bucket, the move to
processed/ on the bucket, reports and the ledger with full s3:// URIs; a vanished file fails naming the
worker host; on a non-local executor a local landing or runs root is refused before anything is read."""

from __future__ import annotations

import json
import uuid

import pytest

from include.core import report_models, storage
from include.distributed.celery_stack import lay_out_landing
from include.imports import errors as import_errors
from include.imports import file_import, night
from tests.imports.db.conftest import TODAY, scalar


@pytest.fixture
def s3_roots(s3_server, monkeypatch) -> tuple[str, str]:
    base = f"s3://genascope-test/{uuid.uuid4().hex[:8]}"
    landing, runs = f"{base}/landing", f"{base}/runs"
    lay_out_landing(landing)
    monkeypatch.setenv("GENASCOPE_RUNS_DIR", runs)
    monkeypatch.setenv("GENASCOPE_LANDING_ROOTS", landing)  # the allow-list of landing roots
    return landing, runs


def _night(engine, landing: str, run_id: str) -> tuple[list[report_models.FileResult], report_models.NightSummary]:
    sources = {s.id: s for s in file_import.resolve_sources()}
    found = file_import.discover_files(None, landing)
    results = [file_import.import_file(engine, sources[f["source_id"]], f["path"], run_id=run_id, today=TODAY)
               for f in found]
    return results, night.night_summary(engine, run_id, today=TODAY)


def test_the_sample_night_runs_from_an_s3_landing_into_an_s3_runs_root(import_db, s3_roots, tmp_path):
    landing, runs = s3_roots
    results, summary = _night(import_db, landing, "night-s3")

    assert sorted(r.source_id for r in results) == ["clinic-east-fhir", "clinic-north-csv", "clinic-west-hl7"]
    assert all(r.status == "done" and r.reconciled for r in results), [(r.source_id, r.status) for r in results]
    assert summary.gx_success is True
    # reports on the bucket, named by full URI in XComs and the ledger
    assert summary.summary_path == f"{runs}/clinic_patient_import/night-s3/night_summary.json"
    night = json.loads(storage.read_text(summary.summary_path))
    assert sum(s["inserted"] for s in night["sources"].values()) == scalar(import_db, "SELECT count(*) FROM patients")
    for r in results:
        assert r.report_path.startswith(f"{runs}/clinic_patient_import/night-s3/imports/file_"), r.report_path
        assert json.loads(storage.read_text(r.report_path))["status"] == "done"
    gx = [p.name for p in storage.path(f"{runs}/clinic_patient_import/night-s3/gx").iterdir()]
    assert "patients_after_import.json" in gx and any(n.startswith("staged_file_") for n in gx)
    with import_db.connect() as conn:
        ledger = conn.exec_driver_sql(
            "SELECT location, report_path, status FROM patient_pipeline.import_file ORDER BY file_id").all()
    assert len(ledger) == 3
    for location, report_path, status in ledger:
        assert status == "done" and location.startswith(f"{landing}/") and "/processed/" in location, location
        assert storage.path(location).exists() and report_path.startswith(f"{runs}/")
    # the deliveries moved on the bucket; nothing left in incoming/, nothing written to a local runs root
    root = storage.path(landing)
    assert [p for c in root.iterdir() if (c / "incoming").exists() for p in (c / "incoming").iterdir()] == []
    assert not (tmp_path / "runs").exists()

    # the same bytes delivered again the next night are recognised as duplicates, nothing changes
    before = scalar(import_db, "SELECT md5(string_agg(p::text, ',' ORDER BY id)) FROM patients p")
    for location, _, _ in ledger:
        src = storage.path(location)
        src.copy(storage.path(location.replace("/processed/", "/incoming/")))
    again, _ = _night(import_db, landing, "night-s3-2")
    assert [r.status for r in again] == ["duplicate"] * 3
    assert scalar(import_db, "SELECT md5(string_agg(p::text, ',' ORDER BY id)) FROM patients p") == before


def test_a_discovered_file_that_vanished_fails_naming_the_worker_host(import_db, s3_roots):
    landing, _ = s3_roots
    sources = {s.id: s for s in file_import.resolve_sources()}
    found = file_import.discover_files(["clinic-north-csv"], landing)
    assert len(found) == 1
    storage.path(found[0]["path"]).unlink()  # e.g. listed where this worker's disk is not
    with pytest.raises(import_errors.FileVanished) as info:
        file_import.import_file(import_db, sources["clinic-north-csv"], found[0]["path"], run_id="night-gone",
                             today=TODAY)
    assert f"worker {storage.worker_host()}" in str(info.value) and "clear this task" in str(info.value)
    assert scalar(import_db, "SELECT count(*) FROM patients") == 0


def test_on_a_non_local_executor_a_local_landing_or_runs_root_is_refused_before_anything_is_read(
        import_db, sample_landing, s3_roots, monkeypatch, tmp_path):
    landing, _ = s3_roots
    monkeypatch.setenv("AIRFLOW__CORE__EXECUTOR", "CeleryExecutor")
    monkeypatch.setenv("GENASCOPE_LANDING_ROOTS", f"{landing},{sample_landing}")
    with pytest.raises(storage.StorageNotShared) as info:  # a local landing
        file_import.discover_files(["clinic-north-csv"], str(sample_landing))
    assert "landing of source clinic-north-csv" in str(info.value) and "genascope_landing_root" in str(info.value)
    assert list(sample_landing.glob("*/incoming/*"))  # nothing moved
    monkeypatch.delenv("GENASCOPE_RUNS_DIR")  # an object-storage landing, the local runs root of import_db
    with pytest.raises(storage.StorageNotShared) as info:
        file_import.discover_files(["clinic-north-csv"], landing)
    assert "the runs root" in str(info.value) and "genascope_runs_dir" in str(info.value)
    monkeypatch.setenv(storage.SHARED_ROOTS_ENV, str(tmp_path))  # declared a shared volume: accepted
    assert len(file_import.discover_files(["clinic-north-csv"], landing)) == 1
