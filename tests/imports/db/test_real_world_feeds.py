"""docs/contracts/imports.md "Real-world feeds" across files and nights, through the real pipeline: deceased patients stay
non-invitable, field issues are recorded and summed up per night, and an older pipeline schema gains the
new columns in place."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import sqlalchemy as sa

from include.core import pipeline_schema
from include.imports import file_import, night
from include.imports.sources import SourceConfigError, source_from_dict
from tests.imports.db.conftest import TODAY, patients, scalar

ACCT = "acct-clinic-north"
HEADER = "email,first_name,last_name,phone,external_id,date_of_birth,date_of_death\n"


def run(engine, source, path, run_id="run-1"):
    return file_import.import_file(engine, source, path, run_id=run_id, today=TODAY)


@pytest.fixture
def death_source(csv_source):
    mapping = {c: c for c in HEADER.strip().split(",")}
    return csv_source.with_overrides(column_mapping=mapping, max_reject_ratio=0.9)


def seed_pending(engine, ext: str, status: str = "pending") -> None:
    with engine.begin() as conn:
        conn.execute(sa.text(
            "INSERT INTO patients (id, account_id, external_id, email, first_name, last_name, status) "
            "VALUES (:id, :a, :ext, :email, 'Wren', 'Ashby', :st)"),
            {"id": f"p-{ext}", "a": ACCT, "ext": ext, "email": f"{ext.lower()}@example.com", "st": status})


def change_rows(engine, file_id: int) -> list[tuple]:
    with engine.connect() as conn:
        return [tuple(r) for r in conn.execute(sa.text(
            "SELECT patient_id, change_kind, changed_fields, reason FROM patient_pipeline.import_changes "
            "WHERE file_id = :f ORDER BY patient_id"), {"f": file_id})]


@pytest.mark.parametrize("status", ["pending", "active"])
def test_a_reported_death_makes_an_invitable_patient_inactive_with_reason_deceased(import_db, death_source, drop_csv,
                                                                                   status):
    seed_pending(import_db, "MRN7", status)
    path = drop_csv("death.csv", ["mrn7@example.com,Wren,Ashby,,MRN7,,2024-02-03"], header=HEADER)
    res = run(import_db, death_source, path)
    assert (res.status, res.updated, res.inserted) == ("done", 1, 0)
    assert [(r.external_id, r.status) for r in patients(import_db, ACCT)] == [("MRN7", "inactive")]
    assert change_rows(import_db, res.file_id) == [("p-MRN7", "update", ["status"], "deceased")]


def test_no_later_record_turns_a_deceased_patient_back_to_pending(import_db, death_source, drop_csv):
    seed_pending(import_db, "MRN8")
    first = run(import_db, death_source, drop_csv("d1.csv", ["mrn8@example.com,Wren,Ashby,,MRN8,,Y"], header=HEADER))
    assert first.updated == 1
    # a later delivery without the death, with a new phone: the phone is taken, the status stays inactive
    later = run(import_db, death_source,
                drop_csv("d2.csv", ["mrn8@example.com,Wren,Ashby,(202) 555-0188,MRN8,,"], header=HEADER), "run-2")
    assert (later.status, later.updated) == ("done", 1)
    (row,) = patients(import_db, ACCT)
    assert (row.status, row.phone) == ("inactive", "+12025550188")
    assert change_rows(import_db, later.file_id) == [("p-MRN8", "update", ["phone"], None)]
    # and a FHIR record with active: true does not reactivate either
    # (the same EHR's FHIR export: its MRNs are the CSV's, so it names the CSV source's identifier namespace)
    fhir = death_source.with_overrides(format="fhir_ndjson", identifier_system="urn:test", column_mapping=None,
                                       id="clinic-test-fhir", fhir_validation="fast",
                                       identifier_namespace=death_source.namespace)
    path = Path(fhir.incoming()) / "p.ndjson"
    path.write_text(json.dumps({"resourceType": "Patient", "active": True,
                                "identifier": [{"system": "urn:test", "value": "MRN8"}],
                                "name": [{"family": "Ashby", "given": ["Wren"]}]}) + "\n")
    res = run(import_db, fhir, str(path), "run-3")
    assert (res.status, res.unchanged) == ("done", 1)
    assert patients(import_db, ACCT)[0].status == "inactive"


def test_field_issues_are_rows_per_field_without_values_and_summed_in_the_night_summary(import_db, csv_source,
                                                                                        drop_csv):
    a = run(import_db, csv_source, drop_csv("a.csv", [
        "ann@example.com,Ann,Arbor,call me,MRN1,1980-13-01",   # phone + DOB dropped, row imported
        "bad-email,Bob,Bay,(202) 555-0101,MRN2,",              # e-mail dropped (the MRN identifies Bob)
        "cy@example.com,Cy,Cole,,MRN3,",
        "dee@example.com,Dee,Dale,,MRN4,"]))
    b = run(import_db, csv_source, drop_csv("b.csv", ["eve@example.com,Eve,Eames,12,MRN5,"]))
    assert (a.status, a.inserted, a.quarantined, a.field_issue_rows) == ("done", 4, 0, 2)
    assert a.field_issues_by_reason == {"unparseable_phone": 1, "invalid_dob": 1, "invalid_email": 1}
    assert a.field_issues_by_field == {"phone:unparseable_phone": 1, "date_of_birth:invalid_dob": 1,
                                       "email:invalid_email": 1}
    with import_db.connect() as conn:
        rows = conn.execute(sa.text(
            "SELECT record_no, field, reason_code FROM patient_pipeline.import_field_issue WHERE file_id = :f "
            "ORDER BY record_no, field"), {"f": a.file_id}).all()
        columns = {r[0] for r in conn.execute(sa.text(
            "SELECT column_name FROM information_schema.columns WHERE table_schema = 'patient_pipeline' "
            "AND table_name = 'import_field_issue'"))}
    assert [tuple(r) for r in rows] == [(1, "date_of_birth", "invalid_dob"), (1, "phone", "unparseable_phone"),
                                        (2, "email", "invalid_email")]
    assert columns == {"file_id", "record_no", "field", "reason_code", "recorded_at"}  # never a value
    assert scalar(import_db, "SELECT field_issue_rows FROM patient_pipeline.import_file WHERE file_id = :f",
                  f=a.file_id) == 2

    summary = night.night_summary(import_db, "run-1", source_ids=None, today=TODAY, validate_patients=False)
    test_source = summary.sources[csv_source.id]
    assert test_source["field_issues"] == {"unparseable_phone": 2, "invalid_dob": 1, "invalid_email": 1}
    assert test_source["field_issue_rows"] == 3 and b.field_issue_rows == 1
    md = (Path(summary.summary_path).parent / "night_summary.md").read_text()
    assert "Field issues by reason" in md and "`unparseable_phone` 2" in md
    report = Path(a.report_path).with_suffix(".md").read_text()
    assert "| `phone` | `unparseable_phone` | 1 |" in report


def test_an_earlier_pipeline_schema_gains_the_new_columns_in_place(import_db):
    new_columns = {("import_file", "field_issue_rows"), ("import_file", "reason_message"),
                   ("import_file", "unsupported_messages"), ("import_change_log", "reason"),
                   ("import_insert_log", "reason"), ("import_staging", "field_issues"),
                   ("import_staging", "deceased"), ("import_decision", "deceased")}
    with import_db.begin() as conn:  # what a database created before "Real-world feeds" looks like
        conn.execute(sa.text("DROP VIEW patient_pipeline.import_changes"))
        for table, column in sorted(new_columns):
            conn.execute(sa.text(f"ALTER TABLE patient_pipeline.{table} DROP COLUMN {column}"))
    with import_db.connect() as conn:
        pipeline_schema.ensure(conn)
        pipeline_schema.ensure(conn)  # and again: nothing to do
        found = {(r.table_name, r.column_name) for r in conn.execute(sa.text(
            "SELECT table_name, column_name FROM information_schema.columns WHERE table_schema = 'patient_pipeline'"))}
    assert new_columns <= found
    assert ("import_changes", "reason") in found


BASE = {"id": "s", "account_id": "a", "landing": "x"}


@pytest.mark.parametrize(("entry", "message"), [
    ({"format": "hl7v2"}, "assigning_authority"),
    ({"format": "hl7v2", "identifier_type_code": ""}, "identifier_type_code"),
    ({"format": "csv", "identifier_type_code": "MR"}, "hl7v2 sources only"),
    ({"format": "csv", "required_fields": ["first_name"]}, "required_fields"),
    ({"format": "csv", "max_field_chars": 10}, "max_field_chars"),
    ({"format": "csv", "max_field_chars": 2_000_000, "max_record_chars": 1_000_000}, "max_field_chars"),
])
def test_source_identifier_and_bound_settings_are_validated(entry, message):
    with pytest.raises(SourceConfigError, match=message):
        source_from_dict({**BASE, **entry})


def test_hl7_sources_may_declare_type_code_or_facility_instead_of_an_authority():
    by_type = source_from_dict({**BASE, "format": "hl7v2", "identifier_type_code": "MR"})
    by_facility = source_from_dict({**BASE, "format": "hl7v2", "assigning_facility": "NORTHFAC"})
    assert (by_type.identifier_type_code, by_type.assigning_authority) == ("MR", None)
    assert by_facility.assigning_facility == "NORTHFAC"
    assert source_from_dict({**BASE, "format": "csv", "required_fields": ["email"]}).required_fields == ("email",)
