"""Merge rules on small hand-made files, through the real pipeline (COPY, SQL decisions, merge)."""

from __future__ import annotations

import sqlalchemy as sa

from include.imports import file_import, ledger, merge, staging
from include.imports.records import RawRecord
from tests.imports.db.conftest import TODAY, patients, scalar

ACCT = "acct-clinic-north"


def run(engine, source, path, run_id="run-1", **kw):
    return file_import.import_file(engine, source, path, run_id=run_id, today=TODAY, **kw)


def seed(engine, rows: list[dict]) -> None:
    with engine.begin() as conn:
        for r in rows:
            conn.execute(sa.text(
                "INSERT INTO patients (id, account_id, external_id, email, first_name, last_name, phone, date_of_birth, "
                "status) VALUES (:id, :a, :ext, :email, :fn, :ln, :phone, :dob, 'active')"),
                {"a": ACCT, "ext": None, "email": None, "phone": None, "dob": None, **r})


def test_new_rows_become_pending_patients_with_generated_ids(import_db, csv_source, drop_csv):
    path = drop_csv("a.csv", ["ann@example.com,Ann,Arbor,(202) 555-0100,MRN1,1980-01-02",
                              "bob@example.com,Bob,Bay,,MRN2,"])
    res = run(import_db, csv_source, path)
    assert (res.status, res.rows_read, res.inserted, res.updated, res.unchanged) == ("done", 2, 2, 0, 0)
    rows = patients(import_db, ACCT)
    assert [r.external_id for r in rows] == ["MRN1", "MRN2"]
    assert {r.status for r in rows} == {"pending"}
    assert all(len(r.id) == 36 for r in rows)
    assert rows[0].phone == "+12025550100"
    assert scalar(import_db, "SELECT count(*) FROM patient_pipeline.import_changes WHERE change_kind = 'insert'") == 2
    with import_db.connect() as conn:  # inserts are logged in blocks: which patient, which fields, which file
        changes = {r.patient_id: (r.file_id, sorted(r.changed_fields)) for r in conn.execute(sa.text(
            "SELECT file_id, patient_id, changed_fields FROM patient_pipeline.import_changes"))}
        blocks = conn.execute(sa.text("SELECT count(*) FROM patient_pipeline.import_insert_log")).scalar_one()
    assert changes == {
        rows[0].id: (res.file_id, ["date_of_birth", "email", "external_id", "first_name", "last_name", "phone"]),
        rows[1].id: (res.file_id, ["email", "external_id", "first_name", "last_name"])}
    assert blocks == 2  # one block per set of fields


def test_same_external_id_updates_and_never_blanks_a_value(import_db, csv_source, drop_csv):
    seed(import_db, [{"id": "p1", "ext": "MRN1", "email": "ann@example.com", "fn": "Ann", "ln": "Arbor",
                      "phone": "+12025550100"}])
    path = drop_csv("a.csv", ["ann.new@example.com,Ann,Arbor-Smith,,MRN1,1980-01-02"])
    res = run(import_db, csv_source, path)
    assert (res.inserted, res.updated, res.unchanged) == (0, 1, 0)
    (p,) = patients(import_db, ACCT)
    assert (p.id, p.email, p.last_name, p.phone, str(p.date_of_birth)) == (
        "p1", "ann.new@example.com", "Arbor-Smith", "+12025550100", "1980-01-02")
    fields = scalar(import_db, "SELECT changed_fields FROM patient_pipeline.import_change_log WHERE patient_id = 'p1'")
    assert sorted(fields) == ["date_of_birth", "email", "last_name"]


def test_same_email_and_first_name_updates_when_no_external_id_matches(import_db, csv_source, drop_csv):
    seed(import_db, [{"id": "p1", "email": "Ann@Example.com ", "fn": "ann", "ln": "Arbor"}])
    path = drop_csv("a.csv", ["ann@example.com,Ann,Arbor,,MRN9,"])
    res = run(import_db, csv_source, path)
    assert (res.inserted, res.updated) == (0, 1)
    (p,) = patients(import_db, ACCT)
    assert (p.id, p.external_id) == ("p1", "MRN9")


def test_relatives_sharing_an_email_stay_separate_patients(import_db, csv_source, drop_csv):
    seed(import_db, [{"id": "p1", "email": "family@example.com", "fn": "Ann", "ln": "Arbor"}])
    path = drop_csv("a.csv", ["family@example.com,Ben,Arbor,,,"])
    res = run(import_db, csv_source, path)
    assert (res.inserted, res.updated) == (1, 0)
    assert len(patients(import_db, ACCT)) == 2


def test_identity_conflict_is_quarantined_and_never_merged(import_db, csv_source, drop_csv):
    seed(import_db, [{"id": "p1", "ext": "MRN1", "email": "ann@example.com", "fn": "Ann", "ln": "Arbor"},
                     {"id": "p2", "ext": "MRN2", "email": "bob@example.com", "fn": "Bob", "ln": "Bay"}])
    # MRN1 points to p1 while bob@ + Bob points to p2; MRN3 is new but ann@ + Ann is MRN1's patient
    path = drop_csv("a.csv", ["bob@example.com,Bob,Bay,,MRN1,", "ann@example.com,Ann,Arbor,,MRN3,",
                              "cy@example.com,Cy,Cole,,MRN4,", "dee@example.com,Dee,Dale,,MRN5,",
                              "eve@example.com,Eve,Eden,,MRN6,"])
    res = run(import_db, csv_source, path)
    assert res.quarantined_by_reason == {"identity_conflict": 2}
    assert (res.inserted, res.updated, res.unchanged, res.quarantined) == (3, 0, 0, 2)
    rows = {r.id: r for r in patients(import_db, ACCT)}
    assert rows["p1"].email == "ann@example.com" and rows["p2"].external_id == "MRN2"
    q = scalar(import_db, "SELECT raw_values->>'external_id' FROM patient_pipeline.import_quarantine "
                          "WHERE record_no = 1 AND reason_code = 'identity_conflict'")
    assert q == "MRN1"


def test_name_and_dob_alone_only_go_to_the_review_queue(import_db, csv_source, drop_csv):
    seed(import_db, [{"id": "p1", "ext": "MRN1", "email": "ann@example.com", "fn": "Ann", "ln": "Arbor",
                      "dob": "1980-01-02"}])
    path = drop_csv("a.csv", ["ann.other@example.com,ANN,arbor,,MRN7,1980-01-02"])
    res = run(import_db, csv_source, path)
    assert (res.inserted, res.updated, res.review_items) == (1, 0, 1)
    assert len(patients(import_db, ACCT)) == 2
    cand = scalar(import_db, "SELECT candidate_patient_id FROM patient_pipeline.import_review WHERE kind = 'name_dob_match'")
    assert cand == "p1"


def test_in_file_duplicates_and_conflicting_duplicates(import_db, csv_source, drop_csv):
    path = drop_csv("a.csv", [
        "ann@example.com,Ann,Arbor,,MRN1,1980-01-02",
        "ann@example.com,Ann,Arbor,,MRN1,1980-01-02",      # exact copy -> duplicate
        " ANN@example.com ,Ann,Arbor,,MRN1,1980-01-02",    # same after normalization -> duplicate
        "ann@example.com,Ann,Arbor,,MRN1,1981-01-02",      # same identity, other values -> quarantined
    ])
    res = run(import_db, csv_source, path)
    assert (res.rows_read, res.inserted, res.duplicates, res.quarantined) == (4, 1, 2, 1)
    assert res.quarantined_by_reason == {"conflicting_duplicate": 1}
    (p,) = patients(import_db, ACCT)
    assert str(p.date_of_birth) == "1980-01-02"


def test_counts_equation_is_recorded_in_the_ledger(import_db, csv_source, drop_csv):
    seed(import_db, [{"id": "p1", "ext": "MRN1", "email": "ann@example.com", "fn": "Ann", "ln": "Arbor"},
                     {"id": "p2", "ext": "MRN2", "email": "bob@example.com", "fn": "Bob", "ln": "Bay"}])
    path = drop_csv("a.csv", [
        "ann@example.com,Ann,Arbor,,MRN1,",              # unchanged
        "bob@example.com,Bob,Bay,,MRN2,1970-05-05",      # updated
        "cy@example.com,Cy,Cole,,MRN3,",                 # inserted
        "cy@example.com,Cy,Cole,,MRN3,",                 # duplicate
        "not-an-email,Dee,Dale,,,",                      # quarantined (invalid_email, its only identity)
        ",,Eve,,MRN5,",                                  # quarantined (missing_first_name)
    ])
    res = run(import_db, csv_source, path)
    assert (res.rows_read, res.inserted, res.updated, res.unchanged, res.duplicates, res.quarantined) == (6, 1, 1, 1, 1, 2)
    assert res.reconciled is True
    row = import_db.connect().execute(sa.text(
        "SELECT rows_read, inserted + updated + unchanged + duplicates + quarantined, status, reconciled "
        "FROM patient_pipeline.import_file WHERE file_id = :f"), {"f": res.file_id}).one()
    assert tuple(row) == (6, 6, "done", True)


def test_message_feeds_merge_the_latest_message_of_a_patient(import_db, csv_source):
    # an HL7/FHIR stream carries A04 then A08 for one patient: the later one supersedes, no quarantine
    feed = csv_source.with_overrides(format="hl7v2", assigning_authority="TEST")
    with import_db.connect() as conn:
        reg = ledger.register(conn, feed, "a.hl7", "a.hl7", "f" * 64, 1, "run-1")
        records = [RawRecord(i + 1, dict(zip(("email", "first_name", "last_name", "external_id"), v, strict=True)))
                   for i, v in enumerate([("ann@example.com", "Ann", "Arbor", "MRN1"),
                                          ("ann@example.com", "Ann", "Arbor-Smith", "MRN1")])]
        staging.stage(conn, reg.row.file_id, records, feed, TODAY)
        with conn.begin():
            decided = merge.decide(conn, reg.row.file_id, feed)
    assert (decided.insert, decided.duplicate, decided.quarantine) == (1, 1, 0)
    last = scalar(import_db, "SELECT last_name FROM patient_pipeline.import_decision WHERE disposition = 'insert'")
    assert last == "Arbor-Smith"


def test_staging_copy_keeps_tabs_newlines_backslashes_and_null_markers_verbatim(import_db, csv_source):
    # the staging COPY is written as pre-escaped text lines: values with COPY's special characters survive
    tricky = "O\\Brien\t\\N\r\nX"
    csv_source = csv_source.with_overrides(required_fields=["email"])  # so that record 2 is quarantined
    with import_db.connect() as conn:
        reg = ledger.register(conn, csv_source, "t.csv", "t.csv", "e" * 64, 1, "run-1")
        records = [RawRecord(1, {"email": "ann@example.com", "first_name": "Ann", "last_name": "A\\N",
                                 "external_id": "MRN\\1"}),
                   RawRecord(2, {"email": "bad-email", "first_name": tricky, "last_name": "B", "external_id": "\\N"}),
                   RawRecord(3, {"email": "cy@example.com", "first_name": "Cy", "last_name": "", "external_id": None})]
        staging.stage(conn, reg.row.file_id, records, csv_source, TODAY)
        rows = conn.execute(sa.text(
            "SELECT record_no, external_id, first_name, last_name, email, reason, raw FROM patient_pipeline.import_staging "
            "ORDER BY record_no")).all()
        conn.commit()
    assert (rows[0].external_id, rows[0].first_name, rows[0].last_name, rows[0].raw) == ("MRN\\1", "Ann", "A\\N", None)
    assert (rows[1].reason, rows[1].first_name) == ("invalid_email", None)
    assert rows[1].raw == {"email": "bad-email", "first_name": tricky, "last_name": "B", "external_id": "\\N"}
    assert (rows[2].reason, rows[2].raw["last_name"], rows[2].raw["external_id"]) == ("missing_last_name", "", None)
