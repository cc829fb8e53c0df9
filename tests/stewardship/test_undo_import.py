"""undo_import on hand-written files: updated fields go back to their exact previous values, only the
unlinked inserts are removed (the linked and the since-changed ones are listed and kept), the ledger row
becomes 'undone'; undo of a file nothing links to leaves every application table byte-identical, and
importing the same bytes again gives the same end state as the first import."""

from __future__ import annotations

import shutil
from pathlib import Path

import sqlalchemy as sa

from include.imports import file_import
from include.stewardship.dispatch import execute
from include.stewardship.request import Request
from tests.stewardship.conftest import ACCOUNT, TODAY, checksums, ctx, rows
from tests.stewardship.conftest import execute as sql

COLS = ("id, account_id, clinician_id, external_id, email, first_name, last_name, phone, date_of_birth, status, "
        "notes, user_id, created_at, updated_at")
#: The end state of an import without the ids and timestamps a new import generates.
CONTENT = ("SELECT account_id, clinician_id, external_id, email, first_name, last_name, phone, date_of_birth, "
           "status FROM patients ORDER BY external_id")


def seed(engine: sa.Engine) -> None:
    sql(engine, f"INSERT INTO patients ({COLS}) VALUES "
                f"('p-ann', '{ACCOUNT}', NULL, 'MRN-1', 'ann@example.com', 'Ann', 'Lee', NULL, '1970-01-01', 'pending', "
                f" NULL, NULL, '2025-01-01 00:00:00', '2025-01-01 00:00:00.123456'), "
                f"('p-bob', '{ACCOUNT}', NULL, 'MRN-2', 'bob@example.com', 'Bob', 'Stone', NULL, '1960-02-02', 'active', "
                f" 'a note', NULL, '2025-01-02 00:00:00', '2025-01-02 00:00:00.654321')")


def undo(engine: sa.Engine, file_id: int, dry_run: bool = False):
    (res,) = execute(engine, Request(action="undo_import", dry_run=dry_run, confirm="" if dry_run else "UNDO_IMPORT",
                                     file_id=file_id), ctx(dry_run), f"undo-{file_id}")
    return res


def test_undo_restores_previous_values_and_removes_only_unlinked_inserts(steward_db, csv_source, drop_csv):
    seed(steward_db)
    ann_before = rows(steward_db, f"SELECT {COLS} FROM patients WHERE id = 'p-ann'")
    path = drop_csv("north_20250601.csv", [
        "ann@example.com,Ann,Lee-Smith,,MRN-1,1970-01-01",   # update: last name
        "bob@example.com,Bob,Stone,,MRN-2,1961-02-02",       # update: DOB (the application changes Bob later)
        "cy@example.com,Cy,New,,MRN-3,1990-03-03",           # insert, nothing links to it
        "dee@example.com,Dee,New,,MRN-4,1991-04-04",         # insert, an invite links to it later
        "eve@example.com,,NoFirst,,MRN-5,1992-05-05",        # quarantined
    ])
    result = file_import.import_file(steward_db, csv_source, path, run_id="night-1", today=TODAY)
    assert (result.status, result.inserted, result.updated, result.quarantined) == ("done", 2, 2, 1)
    assert rows(steward_db, "SELECT patient_id, changed_fields, previous_values->>'last_name', "
                            "previous_values->>'date_of_birth', previous_values->>'updated_at' "
                            "FROM patient_pipeline.import_change_log ORDER BY patient_id") == [
        ("p-ann", ["last_name"], "Lee", "1970-01-01", "2025-01-01T00:00:00.123456"),
        ("p-bob", ["date_of_birth"], "Stone", "1960-02-02", "2025-01-02T00:00:00.654321")]
    dee = rows(steward_db, "SELECT id FROM patients WHERE external_id = 'MRN-4'")[0][0]
    cy = rows(steward_db, "SELECT id FROM patients WHERE external_id = 'MRN-3'")[0][0]
    sql(steward_db, "INSERT INTO invites (id, email, invite_token, status, patient_id) "
                    f"VALUES ('inv-dee', 'dee@example.com', 't', 'pending', '{dee}')",
        "UPDATE patients SET phone = '+16175550100', updated_at = now() WHERE id = 'p-bob'")

    res = undo(steward_db, result.file_id)
    assert res.status == "applied" and res.counts == {
        "restored": 1, "removed": 1, "kept_linked": 1, "kept_changed": 1, "review_rows_closed": 0,
        "quarantine_rows_closed": 1}
    assert res.ids == {"kept_linked": [dee], "kept_changed": ["p-bob"]}
    assert rows(steward_db, f"SELECT {COLS} FROM patients WHERE id = 'p-ann'") == ann_before
    assert rows(steward_db, "SELECT count(*) FROM patients WHERE id = :c", c=cy) == [(0,)]
    assert rows(steward_db, "SELECT external_id, phone, date_of_birth::text FROM patients ORDER BY external_id") == [
        ("MRN-1", None, "1970-01-01"), ("MRN-2", "+16175550100", "1961-02-02"), ("MRN-4", None, "1991-04-04")]
    assert rows(steward_db, "SELECT status, undone_by FROM patient_pipeline.import_file WHERE file_id = :f",
                f=result.file_id) == [("undone", res.action_id)]
    assert rows(steward_db, "SELECT resolution FROM patient_pipeline.import_quarantine") == [("file_undone",)]
    assert rows(steward_db, "SELECT disposition, count(*) FROM patient_pipeline.steward_undo_patient "
                            "GROUP BY 1 ORDER BY 1") == [
        ("kept_changed", 1), ("kept_linked", 1), ("removed", 1), ("restored", 1)]


def test_undo_of_an_unlinked_file_is_byte_identical_and_reimport_gives_the_same_end_state(
        steward_db, csv_source, drop_csv, tmp_path):
    seed(steward_db)
    before = checksums(steward_db)
    path = drop_csv("north_20250601.csv", ["ann@example.com,Ann,Lee-Smith,,MRN-1,1970-01-01",
                                           "bob@example.com,Bob,Stone,,MRN-2,1961-02-02",
                                           "cy@example.com,Cy,New,,MRN-3,1990-03-03"])
    shutil.copyfile(path, tmp_path / "bytes.csv")
    first = file_import.import_file(steward_db, csv_source, path, run_id="night-1", today=TODAY)
    after_first = rows(steward_db, CONTENT)
    counts_first = (first.inserted, first.updated, first.unchanged, first.quarantined)

    assert undo(steward_db, first.file_id).counts["restored"] == 2
    assert checksums(steward_db) == before

    again = Path(csv_source.incoming()) / "north_20250601.csv"
    shutil.copyfile(tmp_path / "bytes.csv", again)
    second = file_import.import_file(steward_db, csv_source, str(again), run_id="night-2", today=TODAY)
    assert second.status == "done" and second.file_id != first.file_id
    assert (second.inserted, second.updated, second.unchanged, second.quarantined) == counts_first == (1, 2, 0, 0)
    assert rows(steward_db, CONTENT) == after_first
    assert rows(steward_db, "SELECT file_id, status FROM patient_pipeline.import_file ORDER BY file_id") == [
        (first.file_id, "undone"), (second.file_id, "done")]


def test_a_dry_run_undo_changes_nothing_and_undo_is_refused_twice_or_for_an_unfinished_file(
        steward_db, csv_source, drop_csv):
    seed(steward_db)
    path = drop_csv("north_20250601.csv", ["ann@example.com,Ann,Lee-Smith,,MRN-1,1970-01-01"])
    result = file_import.import_file(steward_db, csv_source, path, run_id="night-1", today=TODAY)
    after = checksums(steward_db)
    dry = undo(steward_db, result.file_id, dry_run=True)
    assert dry.status == "dry_run" and dry.counts["restored"] == 1
    assert checksums(steward_db) == after
    assert rows(steward_db, "SELECT status FROM patient_pipeline.import_file") == [("done",)]
    assert undo(steward_db, result.file_id).status == "applied"
    again = undo(steward_db, result.file_id)
    assert (again.status, again.reason_code) == ("refused", "already_undone")
    held = drop_csv("north_20250602.csv", [",,A,,,", ",,B,,,"])
    held_result = file_import.import_file(steward_db, csv_source, held, run_id="night-2", today=TODAY)
    assert held_result.status == "held"
    refused = undo(steward_db, held_result.file_id)
    assert (refused.status, refused.reason_code) == ("refused", "not_done")
    assert rows(steward_db, "SELECT action, status, reason_code FROM patient_pipeline.steward_action "
                            "ORDER BY action_id") == [
        ("undo_import", "dry_run", None), ("undo_import", "applied", None),
        ("undo_import", "refused", "already_undone"), ("undo_import", "refused", "not_done")]
