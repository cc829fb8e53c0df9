"""The Great Expectations gates fail on bad batches, and their reports hold rule names and counts only."""

from __future__ import annotations

import json

import sqlalchemy as sa

from include.imports import gx_gate
from tests.imports.db.conftest import TODAY


def test_staged_batch_gate_fails_on_rows_that_must_not_be_merged(import_db, tmp_path):
    with import_db.begin() as conn:
        conn.execute(sa.text(
            "INSERT INTO patient_pipeline.import_decision (file_id, record_no, disposition, patient_id, external_id, "
            "first_name, last_name, email, phone, date_of_birth) VALUES "
            "(7, 1, 'insert', 'a', 'M1', 'Zelda', 'Quorn', 'zq@example.com', '555-0100', DATE '2030-01-01'), "
            "(7, 2, 'insert', 'a', 'M1', 'Zelda', 'Quorn', 'ZQ@example.com', NULL, NULL)"))
    gate = gx_gate.staged_batch(import_db, 7, TODAY, tmp_path)
    assert not gate.success
    assert set(gate.failed) == {"phone_not_e164", "dob_out_of_range", "duplicate_patient_ids",
                                "duplicate_external_ids", "duplicate_identity_keys"}
    report = open(gate.json_path).read() + open(gate.md_path).read()
    assert json.loads(open(gate.json_path).read())["row_count"] == 2
    for phi in ("Zelda", "Quorn", "zq@example.com", "555-0100", "2030-01-01"):
        assert phi not in report


def test_patients_gate_passes_on_a_clean_table(import_db, tmp_path):
    with import_db.begin() as conn:
        conn.execute(sa.text("INSERT INTO patients (id, account_id, external_id, first_name, last_name, status) "
                             "VALUES ('p1', 'acct-clinic-north', 'M1', 'A', 'B', 'pending')"))
    gate = gx_gate.patients_table(import_db, ["acct-clinic-north"], TODAY, tmp_path)
    assert gate.success and gate.row_count == 1 and gate.evaluated == len(gx_gate.PATIENT_RULES)
