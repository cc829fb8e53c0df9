"""The import matches in the key form (docs/contracts/data-model.md §4 rule 3): a file row finds the patient whose stored e-mail
and first name differ only in case, white space, invisible characters, compatibility forms or hyphen
spacing, also patients an earlier version stored with that noise (upgrade safety: a re-import never
duplicates them), and the name + DOB review sees through the same noise."""

from __future__ import annotations

import sqlalchemy as sa

from include.imports import file_import
from tests.imports.db.conftest import TODAY, patients, scalar

ACCT = "acct-clinic-north"


def _seed_as_the_earlier_version_stored_them(engine) -> None:
    rows = [("p-anne", "anne.roy@example.org\u00a0", "Anne - Marie", "Roy", None),
            ("p-zoe", "\u200bZoe.Lind@example.org", "Zoe\u0308", "Lind", "1980-02-03"),
            ("p-sam", "sam.berg@example.org", "Sam", "Berg", None)]
    with engine.begin() as conn:
        for pid, email, first, last, dob in rows:
            conn.execute(sa.text(
                "INSERT INTO patients (id, account_id, email, first_name, last_name, date_of_birth, status) "
                "VALUES (:id, :a, :e, :f, :l, :d, 'active')"), {"id": pid, "a": ACCT, "e": email, "f": first,
                                                                   "l": last, "d": dob})


def test_a_reimport_matches_patients_stored_with_noise_and_never_duplicates(import_db, csv_source, drop_csv):
    _seed_as_the_earlier_version_stored_them(import_db)
    path = drop_csv("noisy.csv", [
        "ANNE.ROY@example.org,Anne-Marie,Roy,,,1975-04-05",
        "\u00a0zoe.lind@example.org\u200b,Zo\u00eb,Lind,,,",
        "sam.berg@example.org\ufeff,\u200bSAM\u00a0,Berg,,,1990-01-01",
    ])
    res = file_import.import_file(import_db, csv_source, path, run_id="run-1", today=TODAY)
    assert (res.status, res.rows_read, res.inserted, res.updated, res.quarantined) == ("done", 3, 0, 3, 0)
    rows = {r.id: r for r in patients(import_db, ACCT)}
    assert set(rows) == {"p-anne", "p-zoe", "p-sam"}
    assert str(rows["p-anne"].date_of_birth) == "1975-04-05"
    # the same bytes again: no new patient either; a renamed copy only matches
    again = drop_csv("noisy-again.csv", [
        "ANNE.ROY@example.org,Anne-Marie,Roy,,,1975-04-05",
        "\u00a0zoe.lind@example.org\u200b,Zo\u00eb,Lind,,,",
        "sam.berg@example.org\ufeff,\u200bSAM\u00a0,Berg,,,1990-01-01",
    ])
    res2 = file_import.import_file(import_db, csv_source, again, run_id="run-2", today=TODAY)
    assert (res2.inserted, res2.quarantined) == (0, 0)
    assert scalar(import_db, "SELECT count(*) FROM patients WHERE account_id = :a", a=ACCT) == 3


def test_in_file_rows_of_one_person_with_noise_are_one_identity(import_db, csv_source, drop_csv):
    path = drop_csv("dups.csv", [
        "kim.ode@example.org,Kim,Ode,,,",
        "\u00a0KIM.ODE@example.org,\u200bKim\u00a0,Ode,,,1970-01-01",
        "kim.ode@example.org,Lena,Ode,,,",  # a relative sharing the e-mail: another patient
    ])
    res = file_import.import_file(import_db, csv_source, path, run_id="run-1", today=TODAY)
    assert res.inserted == 2
    assert scalar(import_db, "SELECT count(*) FROM patients WHERE account_id = :a", a=ACCT) == 2


def test_name_and_dob_review_sees_through_noise(import_db, csv_source, drop_csv):
    _seed_as_the_earlier_version_stored_them(import_db)
    # another e-mail, same person by name + DOB (typed with other noise): a new patient and a review item
    path = drop_csv("lookalike.csv", ["z.lind@example.net,\u00a0ZOË\u200b,LIND\t,,,1980-02-03"])
    res = file_import.import_file(import_db, csv_source, path, run_id="run-1", today=TODAY)
    assert (res.inserted, res.review_items) == (1, 1)
    assert scalar(import_db, "SELECT candidate_patient_id FROM patient_pipeline.import_review "
                             "WHERE kind = 'name_dob_match'") == "p-zoe"
