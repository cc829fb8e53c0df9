"""The imports' review SQL skips a pair kept separate, for every kind of item it queues: HL7 A40 /
FHIR replaced-by events (the row's patient and the reported reference) and in-file name + DOB look-alikes
(two new rows of one file, recognised by external id when a re-import gives them new ids). Decision rows
are written by hand, so each case states exactly what the merge step sees."""

from __future__ import annotations

import sqlalchemy as sa

from include.imports.staging import run
from include.stewardship.dispatch import execute
from include.stewardship.request import Request
from tests.stewardship.conftest import ACCOUNT, ctx, rows
from tests.stewardship.conftest import execute as sql


def new_file(engine: sa.Engine) -> int:
    sql(engine, "INSERT INTO patient_pipeline.import_file (source_id, account_id, file_name, location, sha256, "
                f"size_bytes, status) VALUES ('clinic-north-csv', '{ACCOUNT}', 'f', '/x', "
                "md5(random()::text) || md5(random()::text), 1, 'merged')")
    return rows(engine, "SELECT max(file_id) FROM patient_pipeline.import_file")[0][0]


def decision(engine: sa.Engine, file_id: int, record_no: int, disposition: str, patient_id: str, external_id: str,
             first: str, last: str, dob: str | None = "1970-01-01", event: str | None = None,
             detail: str | None = None) -> None:
    with engine.begin() as conn:
        conn.execute(sa.text(
            "INSERT INTO patient_pipeline.import_decision (file_id, record_no, disposition, patient_id, external_id, "
            "first_name, last_name, email, date_of_birth, event, event_detail) "
            "VALUES (:f, :r, :d, :p, :x, :fn, :ln, NULL, CAST(:dob AS date), :e, :ed)"),
            {"f": file_id, "r": record_no, "d": disposition, "p": patient_id, "x": external_id, "fn": first,
             "ln": last, "dob": dob, "e": event, "ed": detail})


def review(engine: sa.Engine, name: str, file_id: int) -> int:
    with engine.begin() as conn:
        return run(conn, name, file_id=file_id, account_id=ACCOUNT, clinician_id=None).rowcount


def keep(engine: sa.Engine) -> None:
    item = "import:" + str(rows(engine, "SELECT max(review_id) FROM patient_pipeline.import_review")[0][0])
    (res,) = execute(engine, Request(action="keep_separate", dry_run=False, items=[item]), ctx(), "run-keep")
    assert res.status == "applied"


def test_an_hl7_merge_event_kept_separate_is_not_queued_again(steward_db):
    sql(steward_db, f"INSERT INTO patients (id, account_id, external_id, first_name, last_name, status) "
                    f"VALUES ('p-a', '{ACCOUNT}', 'MRN-A', 'Ada', 'One', 'active')")
    f1 = new_file(steward_db)
    decision(steward_db, f1, 1, "match", "p-a", "MRN-A", "Ada", "One", event="hl7_a40_merge", detail="MRN-OLD")
    assert review(steward_db, "review_events", f1) == 1
    keep(steward_db)
    f2 = new_file(steward_db)
    decision(steward_db, f2, 1, "match", "p-a", "MRN-A", "Ada", "One", event="hl7_a40_merge", detail="MRN-OLD")
    decision(steward_db, f2, 2, "match", "p-a", "MRN-A", "Ada", "One", event="hl7_a40_merge", detail="MRN-OTHER")
    assert review(steward_db, "review_events", f2) == 1  # only the other reference
    assert rows(steward_db, "SELECT record_no FROM patient_pipeline.import_review WHERE file_id = :f", f=f2) == [(2,)]


def test_in_file_look_alikes_kept_separate_are_not_queued_again_under_new_ids(steward_db):
    f1 = new_file(steward_db)
    decision(steward_db, f1, 1, "insert", "new-1", "MRN-1", "Bo", "Twin")
    decision(steward_db, f1, 2, "insert", "new-2", "MRN-2", "Bo", "Twin")
    assert review(steward_db, "review_name_dob", f1) == 1
    sql(steward_db, f"INSERT INTO patients (id, account_id, external_id, first_name, last_name, date_of_birth, "
                    f"status) VALUES ('new-1', '{ACCOUNT}', 'MRN-1', 'Bo', 'Twin', '1970-01-01', 'pending'), "
                    f"('new-2', '{ACCOUNT}', 'MRN-2', 'Bo', 'Twin', '1970-01-01', 'pending')")
    keep(steward_db)
    sql(steward_db, "DELETE FROM patients")  # the file undone; the same rows arrive again with new ids
    f2 = new_file(steward_db)
    decision(steward_db, f2, 1, "insert", "newer-1", "MRN-1", "Bo", "Twin")
    decision(steward_db, f2, 2, "insert", "newer-2", "MRN-2", "Bo", "Twin")
    decision(steward_db, f2, 3, "insert", "newer-3", "MRN-3", "Bo", "Twin")
    assert review(steward_db, "review_name_dob", f2) == 1  # record 3 vs record 1 is a new pair
    assert rows(steward_db, "SELECT record_no, candidate_patient_id FROM patient_pipeline.import_review "
                            "WHERE file_id = :f", f=f2) == [(3, "newer-1")]
