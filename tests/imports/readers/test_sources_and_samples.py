"""Clinic sources come from YAML and are validated; the three fictional clinics' sample files read as documented;
readers stream in bounded memory, accept object-storage-like paths, and never put file content in errors."""

from __future__ import annotations

import glob
import tracemalloc
from collections import Counter
from datetime import date
from pathlib import Path

import pytest

from include.imports.readers import read_records
from include.imports.record_normalizer import normalize_record
from include.imports.records import FileRejected
from include.imports.sources import SourceConfigError, load_sources, source_from_dict

TODAY = date(2025, 6, 1)


def test_bundled_sources_declare_the_three_clinics():
    sources = load_sources()
    assert {s.id: (s.account_id, s.format) for s in sources.values()} == {
        "clinic-north-csv": ("acct-clinic-north", "csv"),
        "clinic-east-fhir": ("acct-clinic-east", "fhir_ndjson"),
        "clinic-west-hl7": ("acct-clinic-west", "hl7v2"),
        "upload-acct-clinic-north": ("acct-clinic-north", "csv"),  # the intake API's upload source
    }
    assert sources["clinic-north-csv"].incoming().endswith("clinic-north/incoming")


@pytest.mark.parametrize(
    ("entry", "key"),
    [({"format": "xml"}, "format"), ({"date_formats": ["%m/%d/%y"]}, "date_formats"),
     ({"column_mapping": {"Name": "full_name", "first_name": "first_name"}}, "column_mapping"),
     ({"column_mapping": {"email": "email"}}, "column_mapping"), ({"encoding": "klingon"}, "encoding"),
     ({"max_reject_ratio": 2}, "max_reject_ratio"), ({"delimiter": ";;"}, "delimiter"), ({"colour": "red"}, "colour")],
)
def test_invalid_source_entries_name_the_key_to_fix(entry, key):
    base = {"id": "s1", "account_id": "a1", "format": "csv", "landing": "x"}
    with pytest.raises(SourceConfigError, match=repr(key)):
        source_from_dict({**base, **entry})


def test_fhir_and_hl7_sources_need_their_identifier_namespace():
    with pytest.raises(SourceConfigError, match="identifier_system"):
        source_from_dict({"id": "f", "account_id": "a", "format": "fhir_ndjson", "landing": "x"})
    with pytest.raises(SourceConfigError, match="assigning_authority"):
        source_from_dict({"id": "h", "account_id": "a", "format": "hl7v2", "landing": "x"})


def test_duplicate_source_ids_are_refused(tmp_path: Path):
    entry = "  - {id: s1, account_id: a, format: csv, landing: x}\n"
    path = tmp_path / "sources.yaml"
    path.write_text("sources:\n" + entry + entry)
    with pytest.raises(SourceConfigError, match="appears twice"):
        load_sources(path)


SAMPLE_OUTCOMES = {
    "clinic-north-csv": {"ok": 30, "missing_first_name": 1, "wrong_field_count": 1},
    "clinic-east-fhir": {"ok": 28, "invalid_fhir": 1, "not_patient": 1, "truncated_line": 1},
    "clinic-west-hl7": {"ok": 27, "missing_first_name": 1, "invalid_hl7": 2},
}
#: Invalid optional values: the row imports without them (docs/contracts/imports.md "Real-world feeds").
SAMPLE_FIELD_ISSUES = {
    "clinic-north-csv": {"email:invalid_email": 1, "date_of_birth:invalid_dob": 1, "date_of_birth:dob_in_future": 1,
                         "phone:unparseable_phone": 1},
    "clinic-east-fhir": {"date_of_birth:dob_in_future": 1, "email:invalid_email": 1},
    "clinic-west-hl7": {"date_of_birth:dob_in_future": 1},
}
SAMPLE_NOTES_AND_EVENTS = {
    "clinic-north-csv": ({"excel_serial_date": 1}, {}),
    "clinic-east-fhir": ({"dob_partial": 2}, {"fhir_replaced_by": 1}),
    "clinic-west-hl7": ({"dob_partial": 1, "hl7_explicit_null": 1}, {"hl7_a40_merge": 1}),
}


@pytest.mark.parametrize("source_id", sorted(SAMPLE_OUTCOMES))
def test_sample_clinic_files_read_as_documented(source_id: str):
    source = load_sources()[source_id]
    (path,) = glob.glob(source.incoming() + "/*")
    records = [normalize_record(r, source, TODAY) for r in read_records(path, source)]
    assert Counter(r.reason or "ok" for r in records) == Counter(SAMPLE_OUTCOMES[source_id])
    issues = Counter(f"{f}:{code}" for r in records for f, code in r.field_issues)
    assert issues == Counter(SAMPLE_FIELD_ISSUES[source_id])
    notes = Counter(n for r in records for n in r.notes)
    events = Counter(r.event for r in records if r.event)
    assert (dict(notes), dict(events)) == SAMPLE_NOTES_AND_EVENTS[source_id]


class _ObjectStoragePathLike:
    """Stands in for Airflow's ObjectStoragePath: only ``open("rb")`` is used."""

    def __init__(self, path: Path) -> None:
        self._path = path

    def open(self, mode: str):
        assert mode == "rb"
        return open(self._path, mode)


def test_readers_accept_object_storage_paths():
    source = load_sources()["clinic-north-csv"]
    (path,) = glob.glob(source.incoming() + "/*")
    assert len(list(read_records(_ObjectStoragePathLike(Path(path)), source))) == 32


def _write_rows(path: Path, n: int) -> None:
    with open(path, "w", encoding="utf-8") as fh:
        fh.write("email,first_name,last_name,phone,external_id,date_of_birth\n")
        for i in range(n):
            fh.write(f"p{i}@example.com,First{i % 50},Last{i % 70},(202) 555-{i % 10000:04d},MRN-{i},1970-01-01\n")


@pytest.mark.slow
def test_memory_does_not_grow_with_the_file(tmp_path: Path):
    source = source_from_dict({"id": "m", "account_id": "a", "format": "csv", "landing": "x"})
    peaks = []
    for n in (20_000, 200_000):
        path = tmp_path / f"rows_{n}.csv"
        _write_rows(path, n)
        tracemalloc.start()
        count = sum(1 for _ in read_records(path, source))
        peaks.append(tracemalloc.get_traced_memory()[1])
        tracemalloc.stop()
        assert count == n
    assert peaks[1] < 1.5 * peaks[0] + 256 * 1024, peaks
    assert peaks[1] < 8 * 1024 * 1024


def test_rejection_messages_carry_no_file_content(tmp_path: Path):
    secret = "Zebulon.Quartermaine@example.com"
    path = tmp_path / "headerless.csv"
    path.write_text(f"{secret},Zebulon,Quartermaine,2025550100,MRN-1,1970-01-01\n", encoding="utf-8")
    source = source_from_dict({"id": "p", "account_id": "a", "format": "csv", "landing": "x"})
    with pytest.raises(FileRejected) as info:
        list(read_records(path, source))
    assert info.value.reason_code == "missing_required_columns"
    assert "Zebulon" not in str(info.value) and "Quartermaine" not in str(info.value)
    bad = tmp_path / "bad.csv"
    bad.write_bytes(b"email,first_name,last_name\nz@example.com,Zeb\xffulon,Q\n")
    with pytest.raises(FileRejected) as info:
        list(read_records(bad, source))
    assert info.value.reason_code == "unreadable_encoding" and "Zeb" not in str(info.value)
    assert info.value.__suppress_context__ and info.value.__cause__ is None
