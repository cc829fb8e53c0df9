"""Every input of the bad-input corpus (tests/imports/corpus/manifest.yaml) gives exactly the expected
reader + normalizer outcome: a file rejection with its reason, or per-record reasons, notes and values."""

from __future__ import annotations

import io
import json
import zipfile
from collections import Counter
from datetime import date
from pathlib import Path
from typing import Any

import pytest
import yaml

from include.imports.readers import read_records
from include.imports.record_normalizer import normalize_record
from include.imports.records import FileRejected
from include.imports.sources import source_from_dict

CORPUS = Path(__file__).resolve().parents[1] / "corpus"
MANIFEST = yaml.safe_load((CORPUS / "manifest.yaml").read_text(encoding="utf-8"))
TODAY = date.fromisoformat(MANIFEST["today"])
PLATFORM_HEADER = "email,first_name,last_name,phone,external_id,date_of_birth\n"


def _rows(n: int, bad_every: int = 0) -> str:
    lines = []
    for i in range(1, n + 1):
        email = f"bad-{i}.example.com" if bad_every and i % bad_every == 0 else f"p{i}@example.com"
        lines.append(f"{email},First{i % 97},Last{i % 89},(202) 555-{i % 10000:04d},MRN-{i},1970-01-{i % 28 + 1:02d}\n")
    return "".join(lines)


def gen_zero_bytes(path: Path) -> None:
    path.write_bytes(b"")


def gen_nul_bytes(path: Path) -> None:
    path.write_bytes(PLATFORM_HEADER.encode() + b"a@example.com,Jo\x00\x00,Doe,,M-1,\n")


def gen_zip_binary(path: Path) -> None:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("sheet1.xml", "<x/>")
    path.write_bytes(buffer.getvalue())


def gen_utf16_bom(path: Path) -> None:
    path.write_bytes((PLATFORM_HEADER + "a@example.com,Jo,Doe,,M-1,\n").encode("utf-16"))


def gen_late_invalid_utf8(path: Path) -> None:
    path.write_bytes((PLATFORM_HEADER + _rows(5000)).encode() + b"z@example.com,Jo\xff,Doe,,M-X,\n")


def gen_late_nul_byte(path: Path) -> None:
    body = _rows(3000).splitlines(keepends=True)
    body[2499] = body[2499].replace("First", "Fi\x00rst", 1)
    path.write_text(PLATFORM_HEADER + "".join(body), encoding="utf-8")


def gen_overlong_line(path: Path) -> None:
    path.write_text(PLATFORM_HEADER + "a@example.com,Jo," + "x" * 1_100_000 + ",,M-1,\n"
                    + "b@example.com,Bo,Doe,,M-2,\n", encoding="utf-8")


def gen_huge_field(path: Path) -> None:
    path.write_text(PLATFORM_HEADER + _rows(1) + f"b@example.com,Bo,{'x' * 50_000},,M-2,\n" + "c@example.com,Cy,Doe,,M-3,\n",
                    encoding="utf-8")


def gen_large_file(path: Path) -> None:
    with open(path, "w", encoding="utf-8") as fh:
        fh.write(PLATFORM_HEADER)
        for start in range(0, 200_000, 10_000):
            fh.write("".join(_rows(start + 10_000, bad_every=100).splitlines(keepends=True)[start:]))


def _hl7_message(n: int, pid_name: str = "Doe^Jo") -> str:
    return (f"MSH|^~\\&|FICT|FICT|PIPE|GEN|20250531{n % 10000:04d}||ADT^A04|G{n}|P|2.5.1\r"
            f"EVN|A04\rPID|1||G-{n}^^^CORPUS^MR||{pid_name}||19700101\r")


def gen_hl7_one_malformed_among_many(path: Path) -> None:
    messages = [_hl7_message(i) for i in range(1, 41)]
    messages.insert(20, "MSH|^~\\&|FICT|FICT|PIPE|GEN|202505310000||ADT^A04|BAD|P|2.5.1\rEVN|A04\r")  # no PID
    path.write_text("".join(messages), encoding="utf-8")


def gen_hl7_raw_nul_after_the_first_block(path: Path) -> None:
    # the first 64 KiB are clean (a binary file would be rejected there); message 801 carries a raw NUL
    messages = [_hl7_message(i) for i in range(1, 801)]
    messages.append(_hl7_message(801, "Do\x00e^Jo"))
    messages.append(_hl7_message(802))
    path.write_text("".join(messages), encoding="utf-8")


def gen_hl7_oversized_segment(path: Path) -> None:
    big = "NTE|1||" + "x" * 1_200_000
    path.write_text(_hl7_message(1) + _hl7_message(2).replace("\rPID", "\r" + big + "\rPID") + _hl7_message(3),
                    encoding="utf-8")


def gen_hl7_oversized_message(path: Path) -> None:
    notes = "".join(f"NTE|{i}||{'y' * 90_000}\r" for i in range(30))  # 2.7 MB in segments under the field bound
    path.write_text(_hl7_message(1) + _hl7_message(2) + notes + _hl7_message(3), encoding="utf-8")


def gen_fhir_oversized_line(path: Path) -> None:
    big = {"resourceType": "Patient", "id": "big", "identifier": [{"system": "urn:oid:1.2.3.4", "value": "B-1"}],
           "name": [{"family": "Big", "given": ["Bo"]}], "text": {"status": "generated", "div": "x" * 2_500_000}}
    ok = {"resourceType": "Patient", "id": "ok", "identifier": [{"system": "urn:oid:1.2.3.4", "value": "B-2"}],
          "name": [{"family": "Small", "given": ["Sy"]}]}
    path.write_text(json.dumps(big) + "\n" + json.dumps(ok) + "\n", encoding="utf-8")


GENERATORS = {name[len("gen_"):]: fn for name, fn in globals().items() if name.startswith("gen_")}


def _source(case: dict[str, Any]):
    entry = dict(MANIFEST["bases"][case["format"]])
    entry.update(case.get("source") or {})
    return source_from_dict(entry)


def _input(case: dict[str, Any], tmp_path: Path) -> Path:
    if "file" in case:
        return CORPUS / case["file"]
    path = tmp_path / f"{case['id']}.input"
    GENERATORS[case["generate"]](path)
    return path


def _check_record(rec, want: dict[str, Any], where: str) -> None:
    assert rec.reason == want.get("reason"), where
    assert rec.reason_field == want.get("field"), where
    if "notes" in want or rec.reason is None:
        assert rec.notes == want.get("notes", []), where
    if "field_issues" in want or rec.reason is None:
        assert dict(rec.field_issues) == want.get("field_issues", {}), where
        assert len(rec.field_issues) == len(want.get("field_issues", {})), where
    assert rec.event == want.get("event"), where
    assert rec.event_detail == want.get("event_detail"), where
    for key, expected in (want.get("values") or {}).items():
        actual = getattr(rec, key)
        if isinstance(actual, date):
            actual = actual.isoformat()
        assert actual == expected, f"{where}: {key}"


def test_manifest_has_at_least_40_cases_with_unique_ids():
    ids = [case["id"] for case in MANIFEST["cases"]]
    assert len(ids) >= 40
    assert len(ids) == len(set(ids))
    for case in MANIFEST["cases"]:
        assert ("file" in case) != ("generate" in case), case["id"]
        assert "generate" not in case or case["generate"] in GENERATORS, case["id"]
        assert "file" not in case or (CORPUS / case["file"]).is_file(), case["id"]
        assert set(case["expect"]) <= {"rejected", "yielded_at_least", "records", "reason_counts", "stats"}, case["id"]


def test_manifest_has_the_real_world_feed_cases():
    """docs/contracts/imports.md "Real-world feeds": at least 30 cases (tagged ``feeds: true``) across FHIR, HL7 and CSV,
    each with its database outcome."""
    feeds = [c for c in MANIFEST["cases"] if c.get("feeds")]
    assert len(feeds) >= 30
    assert {c["format"] for c in feeds} == {"csv", "fhir_ndjson", "hl7v2"}
    assert all(c.get("db_expect") for c in feeds), [c["id"] for c in feeds if not c.get("db_expect")]


@pytest.mark.parametrize("case", MANIFEST["cases"], ids=[c["id"] for c in MANIFEST["cases"]])
def test_corpus_case(case: dict[str, Any], tmp_path: Path) -> None:
    source = _source(case)
    expect = case["expect"]
    stream = read_records(_input(case, tmp_path), source)

    if "rejected" in expect:
        seen = 0
        with pytest.raises(FileRejected) as info:
            for _ in stream:
                seen += 1
        assert info.value.reason_code == expect["rejected"]
        assert seen >= expect.get("yielded_at_least", 0)
        if "yielded_at_least" not in expect:
            assert seen == 0, "file-level problems must be raised before any record"
        return

    records = [normalize_record(raw, source, TODAY) for raw in stream]
    assert [r.record_no for r in records] == list(range(1, len(records) + 1))
    if "records" in expect:
        assert len(records) == len(expect["records"])
        for rec, want in zip(records, expect["records"], strict=True):
            _check_record(rec, want or {}, f"{case['id']} record {rec.record_no}")
    if "reason_counts" in expect:
        assert Counter(r.reason or "ok" for r in records) == Counter(expect["reason_counts"])
    for key, expected in (expect.get("stats") or {}).items():
        assert getattr(stream.stats, key) == expected, key
