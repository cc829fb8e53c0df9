"""Worklists and replayed corrections: the worklist CSV is owner-only, formulas neutralized, one row per
open quarantine row with the values as read; the edited worklist replayed goes through the normal import
path as a new ledger entry linked to the original (counted in its reconciliation), and the original rows
are resolved with a pointer to the new file and record; undoing the replay reopens them."""

from __future__ import annotations

import csv
import stat
from pathlib import Path

import sqlalchemy as sa

from include.core import settings
from include.imports import file_import
from include.stewardship.dispatch import execute
from include.stewardship.request import Request
from tests.stewardship.conftest import TODAY, ctx, rows


def _import_with_quarantine(engine: sa.Engine, csv_source, drop_csv) -> int:
    path = drop_csv("north_20250601.csv", [
        "ann@example.com,Ann,Lee,,MRN-1,1970-01-01",
        "bob@example.com,,Stone,,MRN-2,1960-02-02",            # record 2: missing_first_name
        "al@example.com,Al,One,,MRN-6,1971-01-01",
        '"=HYPERLINK(""http://x"")",Cy,New,,,1990-01-01',        # record 4: no identifier (invalid e-mail)
        "dan@example.com,Dan,Two,,MRN-7,1972-01-01",
        "eli@example.com,Eli,Three,,MRN-8,1973-01-01",
    ])
    result = file_import.import_file(engine, csv_source, path, run_id="night-1", today=TODAY)
    assert (result.status, result.inserted, result.quarantined) == ("done", 4, 2)
    return int(result.file_id)


def test_worklist_is_owner_only_with_formulas_neutralized_and_values_as_read(steward_db, csv_source, drop_csv):
    file_id = _import_with_quarantine(steward_db, csv_source, drop_csv)
    (res,) = execute(steward_db, Request(action="export_worklist", file_id=file_id), ctx(), "run-export")
    assert res.status == "applied" and res.counts["rows"] == 2 and res.counts["quarantine"] == 2
    path = Path(res.params["path"])
    assert stat.S_IMODE(path.stat().st_mode) == 0o600 and stat.S_IMODE(path.parent.stat().st_mode) == 0o700
    with open(path, newline="", encoding="utf-8") as fh:
        got = list(csv.reader(fh))
    assert got[0] == ["file_id", "record_no", "kind", "reason_code", "field", "external_id", "first_name",
                      "last_name", "email", "phone", "date_of_birth", "other_values"]
    reasons = {r[1]: (r[3], r[4]) for r in got[1:]}
    assert reasons["2"] == ("missing_first_name", "first_name")
    rec4 = [r for r in got[1:] if r[1] == "4"][0]
    assert rec4[8] == "'=HYPERLINK(\"http://x\")" and rec4[6:8] == ["Cy", "New"]
    rec2 = [r for r in got[1:] if r[1] == "2"][0]
    assert rec2[5:11] == ["MRN-2", "", "Stone", "bob@example.com", "", "1960-02-02"]
    assert rows(steward_db, "SELECT action, status FROM patient_pipeline.steward_action") == [
        ("export_worklist", "applied")]


def test_replayed_corrections_are_a_new_ledger_entry_and_close_the_original_rows(steward_db, csv_source, drop_csv,
                                                                                 sources_file):
    file_id = _import_with_quarantine(steward_db, csv_source, drop_csv)
    (export,) = execute(steward_db, Request(action="export_worklist", file_id=file_id), ctx(), "run-export")
    with open(export.params["path"], newline="", encoding="utf-8") as fh:
        worklist = list(csv.DictReader(fh))
    for row in worklist:  # the steward fixes the two rows in the worklist itself
        if row["record_no"] == "2":
            row["first_name"] = "Bob"
        else:
            row["email"] = "cy@example.com"
    corrections = settings.RUNS_DIR / "corrections.csv"
    with open(corrections, "w", newline="", encoding="utf-8") as fh:
        out = csv.DictWriter(fh, fieldnames=list(worklist[0]))
        out.writeheader()
        out.writerows(worklist)

    (res,) = execute(steward_db, Request(action="replay_corrections", dry_run=False, confirm="REPLAY",
                                         input_file=str(corrections)), ctx(), "run-replay")
    assert res.status == "applied", res
    new_file = res.ids["new_file_id"][0]
    assert res.counts == {"records": 2, "rows_read": 2, "inserted": 2, "updated": 0, "unchanged": 0,
                          "duplicates": 0, "quarantined_again": 0, "resolved": 2}
    assert rows(steward_db, "SELECT status, replay_of, rows_read, inserted, quarantined, reconciled FROM "
                            "patient_pipeline.import_file WHERE file_id = :f", f=new_file) == [
        ("done", file_id, 2, 2, 0, True)]
    assert rows(steward_db, "SELECT record_no, resolution, resolved_file_id, resolved_record_no FROM "
                            "patient_pipeline.import_quarantine WHERE file_id = :f ORDER BY record_no", f=file_id) == [
        (2, "replayed", new_file, 1), (4, "replayed", new_file, 2)]
    assert rows(steward_db, "SELECT first_name, last_name, email, external_id FROM patients "
                            "WHERE first_name IN ('Bob', 'Cy') ORDER BY first_name") == [
        ("Bob", "Stone", "bob@example.com", "MRN-2"), ("Cy", "New", "cy@example.com", None)]

    (undone,) = execute(steward_db, Request(action="undo_action", dry_run=False, confirm="UNDO",
                                            target_action_id=res.action_id), ctx(), "run-undo")
    assert undone.status == "applied" and undone.counts["removed"] == 2
    assert undone.counts["quarantine_rows_reopened"] == 2
    assert rows(steward_db, "SELECT count(*) FROM patient_pipeline.import_quarantine WHERE resolved_at IS NULL "
                            "AND file_id = :f", f=file_id) == [(2,)]
    assert rows(steward_db, "SELECT count(*) FROM patients WHERE first_name IN ('Bob', 'Cy')") == [(0,)]


def test_replay_of_rows_that_are_not_open_quarantine_is_refused_and_imports_nothing(steward_db, csv_source,
                                                                                   drop_csv, sources_file):
    file_id = _import_with_quarantine(steward_db, csv_source, drop_csv)
    corrections = settings.RUNS_DIR / "bad.csv"
    corrections.parent.mkdir(parents=True, exist_ok=True)
    corrections.write_text(f"file_id,record_no,first_name\n{file_id},1,Ann\n{file_id},2,Bob\n")
    (res,) = execute(steward_db, Request(action="replay_corrections", dry_run=False, confirm="REPLAY",
                                         input_file=str(corrections)), ctx(), "run-replay")
    assert (res.status, res.reason_code) == ("refused", "not_open_quarantine")
    assert rows(steward_db, "SELECT count(*) FROM patient_pipeline.import_file") == [(1,)]
    assert rows(steward_db, "SELECT count(*) FROM patient_pipeline.import_quarantine WHERE resolved_at IS NULL") == [
        (2,)]


def test_field_issues_are_listed_once_the_field_issue_table_exists(steward_db, csv_source, drop_csv):
    file_id = _import_with_quarantine(steward_db, csv_source, drop_csv)
    (without,) = execute(steward_db, Request(action="export_worklist", file_id=file_id), ctx(), "run-1")
    assert without.counts["field_issue"] == 0
    # the table as the real-world feeds work (feat/feeds) creates it: file, record, field, reason; no value
    with steward_db.begin() as conn:
        conn.execute(sa.text(
            "CREATE TABLE IF NOT EXISTS patient_pipeline.import_field_issue (file_id bigint NOT NULL REFERENCES "
            "patient_pipeline.import_file (file_id), record_no integer NOT NULL, field text NOT NULL, "
            "reason_code text NOT NULL, recorded_at timestamp without time zone NOT NULL DEFAULT now(), "
            "PRIMARY KEY (file_id, record_no, field))"))
        conn.execute(sa.text("INSERT INTO patient_pipeline.import_field_issue (file_id, record_no, field, reason_code) "
                             "VALUES (:f, 5, 'phone', 'unparseable_phone')"), {"f": file_id})
    (res,) = execute(steward_db, Request(action="export_worklist", file_id=file_id), ctx(), "run-2")
    assert (res.counts["rows"], res.counts["quarantine"], res.counts["field_issue"]) == (3, 2, 1)
    with open(res.params["path"], newline="", encoding="utf-8") as fh:
        issue = [r for r in csv.reader(fh) if r[2] == "field_issue"]
    assert issue == [[str(file_id), "5", "field_issue", "unparseable_phone", "phone", "", "", "", "", "", "", ""]]
