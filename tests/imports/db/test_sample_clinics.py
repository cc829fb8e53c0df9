"""The three sample clinics (CSV, FHIR NDJSON, HL7 ADT) through the pipeline without Airflow: every file
reconciles, the night summary adds up, a second night changes nothing, and no PHI reaches the logs."""

from __future__ import annotations

import json
import logging
from pathlib import Path

from include.core import report_models
from include.imports import file_import, file_report
from include.imports import night as import_night
from tests.imports.conftest import find_phi
from tests.imports.db.conftest import TODAY, scalar


def night(engine, landing_root: Path, run_id: str) -> tuple[list[report_models.FileResult], report_models.NightSummary]:
    sources = {s.id: s for s in file_import.resolve_sources()}
    results = [file_import.import_file(engine, sources[f["source_id"]], f["path"], run_id=run_id, today=TODAY)
               for f in file_import.discover_files(None, str(landing_root))]
    return results, import_night.night_summary(engine, run_id, today=TODAY)


def test_sample_night_reconciles_and_a_second_night_changes_nothing(import_db, sample_landing, phi_tokens,
                                                                   caplog, capsys):
    caplog.set_level(logging.DEBUG)
    results, summary = night(import_db, sample_landing, "night-1")
    assert {r.source_id for r in results} == {"clinic-north-csv", "clinic-east-fhir", "clinic-west-hl7"}
    for r in results:
        assert r.status == "done" and r.reconciled, (r.source_id, r.status, r.reason_code)
        assert r.rows_read == r.inserted + r.updated + r.unchanged + r.duplicates + r.quarantined
        assert r.inserted > 0
    assert summary.gx_success is True and not summary.held_files
    total = sum(r.inserted for r in results)
    assert scalar(import_db, "SELECT count(*) FROM patients") == total
    data = json.loads(Path(summary.summary_path).read_text())
    assert sum(s["inserted"] for s in data["sources"].values()) == total
    assert not list(sample_landing.glob("*/incoming/*"))

    before = scalar(import_db, "SELECT md5(string_agg(p::text, ',' ORDER BY id)) FROM patients p")
    results2, _ = night(import_db, sample_landing, "night-2")
    assert results2 == []
    assert scalar(import_db, "SELECT md5(string_agg(p::text, ',' ORDER BY id)) FROM patients p") == before

    logged = caplog.text + capsys.readouterr().out
    for r in results:
        logged += json.dumps(r.as_xcom())
    run_files = "".join(p.read_text() for p in file_report.run_dir("night-1").rglob("*")
                        if p.is_file() and not p.name.endswith("_quarantine.csv"))
    assert find_phi(logged, phi_tokens) == []
    assert find_phi(run_files, phi_tokens) == []
