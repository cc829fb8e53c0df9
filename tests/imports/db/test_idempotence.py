"""Same bytes twice, renamed copies, reject-ratio holds, whole-file rejections, dry runs, and runs
interrupted between COPY and merge: every rerun converges and nothing is imported twice."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
import sqlalchemy as sa

from include.imports import errors as import_errors
from include.imports import file_import, file_report
from tests.imports.db.conftest import TODAY, patients, scalar

ACCT = "acct-clinic-north"
ROWS = [
    "ann@example.com,Ann,Arbor,(202) 555-0100,MRN1,1980-01-02",
    "bob@example.com,Bob,Bay,,MRN2,1975-03-04",
    "cy@example.com,Cy,Cole,,MRN3,",
    "not-an-email,Dee,Dale,,,",  # its only identity is invalid: quarantined (invalid_email)
]


def run(engine, source, path, run_id="run-1", **kw):
    return file_import.import_file(engine, source, path, run_id=run_id, today=TODAY, **kw)


def snapshot(engine) -> list[tuple]:
    return [tuple(r) for r in patients(engine, ACCT)]


def back_to_incoming(source, processed_path: str, name: str | None = None) -> str:
    dest = Path(source.incoming()) / (name or Path(processed_path).name)
    shutil.copyfile(processed_path, dest)
    return str(dest)


def test_the_same_file_twice_imports_nothing_new(import_db, csv_source, drop_csv):
    first = run(import_db, csv_source, drop_csv("a.csv", ROWS))
    assert (first.status, first.inserted, first.quarantined) == ("done", 3, 1)
    before = snapshot(import_db)
    processed = Path(csv_source.processed()) / "a.csv"
    assert processed.exists() and not (Path(csv_source.incoming()) / "a.csv").exists()

    again = run(import_db, csv_source, back_to_incoming(csv_source, str(processed)), run_id="run-2")
    assert (again.status, again.duplicate_of, again.inserted, again.updated) == ("duplicate", first.file_id, 0, 0)
    renamed = run(import_db, csv_source, back_to_incoming(csv_source, str(processed), "a_copy.csv"), run_id="run-3")
    assert renamed.status == "duplicate"
    assert snapshot(import_db) == before
    assert scalar(import_db, "SELECT count(*) FROM patient_pipeline.import_changes") == 3
    assert sorted(p.name for p in Path(csv_source.processed()).iterdir()) == ["a.2.csv", "a.csv", "a_copy.csv"]


def test_a_renamed_re_export_only_produces_unchanged_rows(import_db, csv_source, drop_csv):
    run(import_db, csv_source, drop_csv("a.csv", ROWS))
    before = snapshot(import_db)
    # other bytes (rows reordered, CRLF), same people
    path = drop_csv("a_reexport.csv", [r + "\r" for r in reversed(ROWS)])
    res = run(import_db, csv_source, path, run_id="run-2")
    assert (res.status, res.inserted, res.updated, res.unchanged, res.quarantined) == ("done", 0, 0, 3, 1)
    assert snapshot(import_db) == before


def test_reject_ratio_above_threshold_holds_the_whole_file(import_db, csv_source, drop_csv):
    source = csv_source.with_overrides(max_reject_ratio=0.2)
    bad = [f"bad{i},Bad{i},Row,,," for i in range(3)]  # the invalid e-mail is their only identity
    path = drop_csv("broken.csv", ROWS[:2] + bad)
    res = run(import_db, source, path)
    assert (res.status, res.reason_code, res.inserted, res.updated, res.quarantined) == (
        "held", "reject_ratio_exceeded", 0, 0, 3)
    assert snapshot(import_db) == []
    rejected = Path(source.rejected()) / "broken.csv"
    assert rejected.exists()
    sidecar = json.loads((Path(source.rejected()) / "broken.csv.reason.json").read_text())
    assert sidecar["reason_code"] == "reject_ratio_exceeded" and sidecar["quarantined_by_reason"] == {"invalid_email": 3}
    assert "3 of 5 rows quarantined" in sidecar["reason_message"] and "max_reject_ratio 0.200" in sidecar["reason_message"]
    assert scalar(import_db, "SELECT status FROM patient_pipeline.import_file WHERE file_id = :f", f=res.file_id) == "held"
    # the quarantine keeps every bad row, fixable, and the held file can be delivered again later
    assert scalar(import_db, "SELECT count(*) FROM patient_pipeline.import_quarantine WHERE file_id = :f",
                  f=res.file_id) == 3
    shutil.copyfile(rejected, Path(source.incoming()) / "broken.csv")
    again = run(import_db, source.with_overrides(max_reject_ratio=0.9), str(Path(source.incoming()) / "broken.csv"),
                run_id="run-2")
    assert (again.status, again.inserted, again.quarantined) == ("done", 2, 3)


def test_a_file_level_problem_rejects_the_file_and_imports_nothing(import_db, csv_source):
    path = Path(csv_source.incoming()) / "empty.csv"
    path.write_bytes(b"")
    res = run(import_db, csv_source, str(path))
    assert (res.status, res.reason_code, res.rows_read) == ("rejected", "empty_file", 0)
    assert (Path(csv_source.rejected()) / "empty.csv").exists()
    assert snapshot(import_db) == []


def test_dry_run_counts_without_merging_or_moving(import_db, csv_source, drop_csv):
    path = drop_csv("a.csv", ROWS)
    res = run(import_db, csv_source, path, dry_run=True)
    assert (res.dry_run, res.inserted, res.quarantined, res.reconciled) == (True, 3, 1, True)
    assert snapshot(import_db) == [] and Path(path).exists()
    real = run(import_db, csv_source, path, run_id="run-2")
    assert (real.status, real.inserted) == ("done", 3)


@pytest.mark.parametrize("stop_after", ["stage", "decide", "merge"])
def test_a_run_interrupted_after_each_step_converges_when_rerun(import_db, csv_source, drop_csv, stop_after):
    path = drop_csv("a.csv", ROWS)
    with pytest.raises(import_errors.SimulatedInterruption):
        run(import_db, csv_source, path, stop_after=stop_after)
    expected_status = {"stage": "staged", "decide": "staged", "merge": "merged"}[stop_after]
    assert scalar(import_db, "SELECT status FROM patient_pipeline.import_file") == expected_status
    assert len(snapshot(import_db)) == (3 if stop_after == "merge" else 0)

    res = run(import_db, csv_source, path, run_id="run-2")
    assert (res.status, res.inserted, res.quarantined, res.reconciled) == ("done", 3, 1, True)
    assert len(snapshot(import_db)) == 3
    assert scalar(import_db, "SELECT count(*) FROM patient_pipeline.import_file") == 1
    assert scalar(import_db, "SELECT attempts FROM patient_pipeline.import_file") == 2
    assert scalar(import_db, "SELECT count(*) FROM patient_pipeline.import_staging") == 0
    assert scalar(import_db, "SELECT count(*) FROM patient_pipeline.import_changes") == 3


def test_staged_rows_lost_after_a_crash_are_restaged(import_db, csv_source, drop_csv):
    path = drop_csv("a.csv", ROWS)
    with pytest.raises(import_errors.SimulatedInterruption):
        run(import_db, csv_source, path, stop_after="stage")
    with import_db.begin() as conn:  # what crash recovery does to an UNLOGGED table
        conn.execute(sa.text("TRUNCATE patient_pipeline.import_staging"))
    res = run(import_db, csv_source, path, run_id="run-2")
    assert (res.status, res.inserted, res.quarantined) == ("done", 3, 1)


def test_quarantine_export_neutralizes_spreadsheet_formulas(import_db, csv_source, drop_csv):
    path = drop_csv("a.csv", ROWS[:3] + ['=HYPERLINK("x"),@Dee,-Dale,+1,,'])
    res = run(import_db, csv_source, path)
    export = file_report.run_dir("run-1") / "imports" / f"file_{res.file_id}_quarantine.csv"
    text = export.read_text()
    assert "'=HYPERLINK" in text and "'@Dee" in text and "'-Dale" in text and "'+1" in text
    assert ",=" not in text and ",@" not in text
