"""Several source systems per person (docs/contracts/identity.md 1b) and row-level identity collisions in the file import,
through the real pipeline on both servers: a second system's identifier for a known person is linked (not
quarantined), the same namespace with another value is an identity_conflict with a review item naming both
patients, an update that would take another patient's identity key (23505) costs that row only, and the merge
commits in chunks. Also the HL7 e-mail in XTN.2 of an EMAIL/Internet repetition."""

from __future__ import annotations

from pathlib import Path

import pytest
import sqlalchemy as sa

from include.imports import file_import, merge
from include.imports.readers import read_records
from tests.imports.db.conftest import TODAY, patients

ACCT = "acct-clinic-north"


def run(engine, source, path, run_id="run-1"):
    return file_import.import_file(engine, source, path, run_id=run_id, today=TODAY)


@pytest.fixture
def second_source(csv_source, tmp_path: Path):
    """Another system of the same account (its own MRNs): a CSV source with its own id and namespace."""
    landing = tmp_path / "landing" / "clinic-lab"
    (landing / "incoming").mkdir(parents=True)
    return csv_source.with_overrides(id="clinic-lab-csv", landing=str(landing), identifier_namespace="urn:lab:mrn")


def drop(source, name: str, rows: list[str]) -> str:
    path = Path(source.incoming()) / name
    path.write_text("email,first_name,last_name,phone,external_id,date_of_birth\n" + "".join(r + "\n" for r in rows),
                    encoding="utf-8")
    return str(path)


def xref(engine) -> list[tuple]:
    with engine.connect() as conn:
        return [tuple(r) for r in conn.execute(sa.text(
            "SELECT namespace, value, patient_id FROM patient_pipeline.patient_identifier WHERE account_id = :a "
            "ORDER BY namespace, value"), {"a": ACCT})]


def reviews(engine, file_id: int) -> list[tuple]:
    with engine.connect() as conn:
        return [tuple(r) for r in conn.execute(sa.text(
            "SELECT record_no, kind, patient_id, candidate_patient_id FROM patient_pipeline.import_review "
            "WHERE file_id = :f ORDER BY record_no"), {"f": file_id})]


def test_a_second_systems_identifier_for_a_known_person_is_linked_not_quarantined(import_db, csv_source,
                                                                                   second_source):
    first = run(import_db, csv_source, drop(csv_source, "ehr.csv", ["ann@example.com,Ann,Arbor,,EHR-1,"]))
    assert (first.status, first.inserted) == ("done", 1)
    (ann,) = patients(import_db, ACCT)
    # the lab knows Ann under its own MRN: same e-mail key + first-name key -> Ann, identifier linked
    lab = run(import_db, second_source, drop(second_source, "lab.csv", [" ANN@example.com ,ann,Arbor,,LAB-77,"]),
              "run-2")
    assert (lab.status, lab.quarantined, lab.inserted, lab.updated + lab.unchanged) == ("done", 0, 0, 1)
    assert xref(import_db) == [(csv_source.namespace, "EHR-1", ann.id), ("urn:lab:mrn", "LAB-77", ann.id)]
    assert patients(import_db, ACCT)[0].external_id == "EHR-1"  # the first MRN stays
    # later the lab sends only its MRN: found through the cross-reference
    again = run(import_db, second_source, drop(second_source, "lab2.csv", [",Ann,Arbor,(202) 555-0101,LAB-77,"]),
                "run-3")
    assert (again.status, again.inserted, again.updated, again.quarantined) == ("done", 0, 1, 0)
    assert [p.id for p in patients(import_db, ACCT)] == [ann.id]


def test_the_same_namespace_giving_a_patient_another_value_is_an_identity_conflict_naming_the_patient(
        import_db, csv_source):
    run(import_db, csv_source, drop(csv_source, "a.csv", ["ann@example.com,Ann,Arbor,,EHR-1,"]))
    (ann,) = patients(import_db, ACCT)
    res = run(import_db, csv_source, drop(csv_source, "b.csv", ["ann@example.com,Ann,Arbor,,EHR-2,",
                                                                "cy@example.com,Cy,Cole,,EHR-3,"]), "run-2")
    assert (res.status, res.quarantined, res.inserted, res.quarantined_by_reason) == (
        "done", 1, 1, {"identity_conflict": 1})
    assert reviews(import_db, res.file_id) == [(1, "identity_conflict", ann.id, None)]


def test_an_identifier_and_an_email_key_of_two_patients_give_a_review_item_naming_both(import_db, csv_source):
    run(import_db, csv_source, drop(csv_source, "a.csv", ["ann@example.com,Ann,Arbor,,EHR-1,",
                                                          "bo@example.com,Bo,Bay,,EHR-2,"]))
    by_ext = {p.external_id: p.id for p in patients(import_db, ACCT)}
    res = run(import_db, csv_source, drop(csv_source, "b.csv", ["bo@example.com,Bo,Bay,,EHR-1,",
                                                                "cy@example.com,Cy,Cole,,EHR-3,"]), "run-2")
    assert (res.status, res.quarantined, res.inserted) == ("done", 1, 1)
    assert reviews(import_db, res.file_id) == [(1, "identity_conflict", by_ext["EHR-1"], by_ext["EHR-2"])]


def test_the_same_value_in_two_namespaces_is_two_identifiers_of_two_people(import_db, csv_source, second_source):
    run(import_db, csv_source, drop(csv_source, "a.csv", ["ann@example.com,Ann,Arbor,,100,"]))
    res = run(import_db, second_source, drop(second_source, "b.csv", ["bob@example.com,Bob,Bay,,100,"]), "run-2")
    assert (res.status, res.inserted, res.quarantined) == ("done", 1, 0)
    rows = {p.first_name: p for p in patients(import_db, ACCT)}
    assert rows["Ann"].external_id == "100" and rows["Bob"].external_id is None  # the value is Ann's column
    assert xref(import_db) == [(csv_source.namespace, "100", rows["Ann"].id), ("urn:lab:mrn", "100", rows["Bob"].id)]


def test_an_update_that_would_take_another_patients_identity_key_costs_that_row_only(import_db, csv_source):
    # relatives sharing an e-mail: Ann (MRN X1) and Bob; a row by Ann's MRN renames her Bob -> the update would
    # give her Bob's identity key (the unique index's 23505): that row is an identity_conflict, the rest imports
    with import_db.begin() as conn:
        conn.execute(sa.text(
            "INSERT INTO patients (id, account_id, external_id, email, first_name, last_name, status) VALUES "
            "('p-ann', :a, 'X1', 'fam@example.com', 'Ann', 'Kin', 'pending'), "
            "('p-bob', :a, NULL, 'fam@example.com', 'Bob', 'Kin', 'pending')"), {"a": ACCT})
    rows = [f"new{i}@example.com,New{i},Row,,N-{i},1980-01-0{i}" for i in range(1, 4)]
    rows.insert(1, ",Bob,Kin,,X1,")
    res = run(import_db, csv_source, drop(csv_source, "c.csv", rows))
    assert (res.status, res.reconciled, res.inserted, res.quarantined) == ("done", True, 3, 1)
    assert res.quarantined_by_reason == {"identity_conflict": 1}
    assert reviews(import_db, res.file_id) == [(2, "identity_conflict", "p-ann", "p-bob")]
    names = {p.id: p.first_name for p in patients(import_db, ACCT)}
    assert names["p-ann"] == "Ann" and names["p-bob"] == "Bob"


def test_the_merge_commits_in_chunks_and_reconciles(import_db, csv_source, monkeypatch):
    monkeypatch.setattr(merge, "CHUNK_ROWS", 2)
    rows = [f"c{i}@example.com,Same,Chunk,,C-{i},1970-01-01" for i in range(1, 8)]  # look-alikes: reviews
    res = run(import_db, csv_source, drop(csv_source, "chunks.csv", rows))
    assert (res.status, res.reconciled, res.inserted) == ("done", True, 7)
    with import_db.connect() as conn:
        through = conn.execute(sa.text("SELECT merged_through FROM patient_pipeline.import_file WHERE file_id = :f"),
                               {"f": res.file_id}).scalar_one()
        blocks = conn.execute(sa.text("SELECT count(*) FROM patient_pipeline.import_insert_log WHERE file_id = :f"),
                              {"f": res.file_id}).scalar_one()
    assert through >= 7 and blocks == 4  # one insert-log block per chunk: 2 + 2 + 2 + 1
    assert len(reviews(import_db, res.file_id)) == 6  # name + DOB look-alikes across chunks are all queued


def test_an_hl7_email_in_xtn_2_of_an_email_repetition_is_found(tmp_path: Path):
    from include.imports.sources import load_sources

    source = load_sources()["clinic-west-hl7"].with_overrides(landing=str(tmp_path))
    msg = ("MSH|^~\\&|FICT|FICT|PIPE|GEN|202505310000||ADT^A04|M1|P|2.5.1\rEVN|A04\r"
           f"PID|1||W-1^^^{source.assigning_authority or 'X'}^MR||Doe^Jo||19700101||||||"
           "^PRN^PH^^1^202^5550101~^jo.doe@example.org^EMAIL~^^Internet^^^^^^^^^\r")
    path = tmp_path / "m.hl7"
    path.write_text(msg, encoding="utf-8")
    (rec,) = list(read_records(str(path), source))
    assert rec.values["email"] == "jo.doe@example.org"
