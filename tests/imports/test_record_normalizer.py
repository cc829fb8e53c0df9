"""``normalize_record``: reason precedence, warnings vs quarantine, and the hot-path speed target."""

from __future__ import annotations

from datetime import date

from include.imports.record_normalizer import NormalizedRecord, normalize_record
from include.imports.records import RawRecord
from include.imports.sources import SourceConfig

TODAY = date(2025, 6, 1)
CSV = SourceConfig(id="t-csv", account_id="acct-t", format="csv", landing="x")
HL7 = SourceConfig(id="t-hl7", account_id="acct-t", format="hl7v2", landing="x", assigning_authority="T")


def _raw(**values: str | None) -> RawRecord:
    base = {"external_id": "M-1", "first_name": "Jane", "last_name": "Doe", "email": "Jane@Example.com",
            "phone": "202-555-0123", "date_of_birth": "1970-01-02"}
    base.update(values)
    return RawRecord(1, base)


def test_a_clean_record_gets_keys_and_normalized_values():
    rec = normalize_record(_raw(first_name=" Jane "), CSV, TODAY)
    assert rec == NormalizedRecord(1, "M-1", "Jane", "Doe", "Jane@Example.com", "jane@example.com", "jane",
                                   "+12025550123", date(1970, 1, 2), None, None, None, None, [], field_issues=[],
                                   deceased=False)


def test_reader_problem_wins_over_field_reasons():
    raw = _raw(email="bad")
    raw.problem, raw.problem_field = "wrong_field_count", None
    rec = normalize_record(raw, CSV, TODAY)
    assert (rec.reason, rec.reason_field) == ("wrong_field_count", None)


def test_first_failing_field_in_order_is_the_reason():
    rec = normalize_record(_raw(first_name="N/A", email="bad", date_of_birth="2099-01-01"), CSV, TODAY)
    assert (rec.reason, rec.reason_field) == ("missing_first_name", "first_name")


def test_excel_serial_date_is_a_warning_not_a_quarantine():
    rec = normalize_record(_raw(date_of_birth="23456"), CSV, TODAY)
    assert rec.reason is None and rec.date_of_birth is None and rec.notes == ["excel_serial_date"]


def test_row_without_identifier_and_email_is_quarantined():
    rec = normalize_record(_raw(external_id="  ", email=""), CSV, TODAY)
    assert (rec.reason, rec.reason_field) == ("missing_identifier", "external_id")


def test_hl7_explicit_null_never_blanks_and_is_noted():
    rec = normalize_record(_raw(phone='""', email='""'), HL7, TODAY)
    assert rec.reason is None and rec.phone is None and rec.email is None and rec.notes == ["hl7_explicit_null"]


def test_csv_explicit_null_text_is_just_text():
    rec = normalize_record(_raw(email='""'), CSV, TODAY)
    assert rec.reason is None and rec.email is None and rec.field_issues == [("email", "invalid_email")]


def test_invalid_optional_fields_become_field_issues_and_the_row_imports():
    rec = normalize_record(_raw(phone="call me", date_of_birth="2099-01-01", email="bad"), CSV, TODAY)
    assert rec.reason is None
    assert (rec.phone, rec.date_of_birth, rec.email, rec.email_key) == (None, None, None, None)
    assert rec.field_issues == [("email", "invalid_email"), ("phone", "unparseable_phone"),
                                ("date_of_birth", "dob_in_future")]


def test_an_invalid_email_that_is_the_only_identity_quarantines_the_row():
    rec = normalize_record(_raw(external_id="", email="bad"), CSV, TODAY)
    assert (rec.reason, rec.reason_field, rec.field_issues) == ("invalid_email", "email", [])


def test_required_fields_quarantine_when_missing_or_invalid():
    strict = CSV.with_overrides(required_fields=["email", "phone"])
    rec = normalize_record(_raw(email=""), strict, TODAY)
    assert (rec.reason, rec.reason_field) == ("missing_email", "email")
    rec = normalize_record(_raw(email="bad"), strict, TODAY)
    assert (rec.reason, rec.reason_field) == ("invalid_email", "email")
    rec = normalize_record(_raw(phone="call me"), strict, TODAY)
    assert (rec.reason, rec.reason_field) == ("unparseable_phone", "phone")
    assert normalize_record(_raw(), strict, TODAY).reason is None


def test_first_valid_alternate_is_used_and_an_invalid_preferred_one_does_not_hide_it():
    raw = _raw(phone="12", email="not-an-email")
    raw.alternates = {"phone": ["also bad", "(202) 555-0199"], "email": ["second@example.org"]}
    rec = normalize_record(raw, HL7, TODAY)
    assert (rec.phone, rec.email_key, rec.field_issues) == ("+12025550199", "second@example.org", [])


def test_death_dates_and_flags_mark_the_person_deceased():
    assert normalize_record(_raw(date_of_death="2021-03-04"), CSV, TODAY).deceased is True
    assert normalize_record(_raw(date_of_death="Y"), CSV, TODAY).deceased is True
    assert normalize_record(_raw(date_of_death="N"), CSV, TODAY).deceased is False
    assert normalize_record(_raw(date_of_death=""), CSV, TODAY).deceased is False
    rec = normalize_record(_raw(date_of_death="last spring"), CSV, TODAY)
    assert rec.deceased is True and rec.field_issues == [("date_of_death", "invalid_date_of_death")]
    assert normalize_record(_raw(date_of_death="2020-01-01T10:00:00Z"), HL7, TODAY).field_issues == []


def test_active_values():
    assert normalize_record(_raw(active="Inactive"), CSV, TODAY).active is False
    assert normalize_record(_raw(active="true"), CSV, TODAY).active is True
    rec = normalize_record(_raw(active="maybe"), CSV, TODAY)
    assert rec.active is None and rec.notes == ["unrecognised_active"]


def test_typical_records_all_normalize_without_a_reason():
    """Common shapes take the fast paths and pass (speed itself is measured by `make bench`, not here)."""
    records = [
        RawRecord(i, {"external_id": f"M-{i}", "first_name": ("Jane", "John", "Ana")[i % 3], "last_name": "Doe",
                      "email": f"p{i}@example.com", "phone": f"(202) 555-{i % 10000:04d}",
                      "date_of_birth": f"19{50 + i % 50}-0{1 + i % 9}-1{i % 9}"})
        for i in range(50_000)
    ]
    out = [normalize_record(r, CSV, TODAY) for r in records]
    assert [r.record_no for r in out if r.reason is not None] == []
    assert all(r.phone and r.phone.startswith("+1202555") for r in out)
