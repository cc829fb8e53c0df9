"""The synthetic clinic CSV: platform header, the BENCHMARKS.md mix, deterministic, streamed."""

from __future__ import annotations

import csv
import hashlib

from seed_helpers import MISSING_NAMES, SMALL_N, Seeded

from include.normalize import keys
from include.seed import CLINIC_HEADER, write_clinic_csv
from include.seed.__main__ import main
from include.seed.clinic_csv import DEFECT_KINDS


def read(path) -> list[list[str]]:
    with open(path, newline="", encoding="utf-8") as fh:
        return list(csv.reader(fh))


def test_the_file_has_the_platform_header_and_the_benchmark_mix(tmp_path):
    path = tmp_path / "clinic.csv"
    s = write_clinic_csv(path, 20_000, seed=42, match_invites=5000)
    rows = read(path)
    assert tuple(rows[0]) == CLINIC_HEADER and len(rows) == 20_001
    assert all(len(r) == 6 for r in rows)
    assert s.rows == s.new_people + s.matching + s.duplicates + sum(s.defective.values()) == 20_000
    assert 0.04 <= s.matching / s.rows <= 0.06
    assert 0.003 <= s.duplicates / s.rows <= 0.007
    assert 0.007 <= sum(s.defective.values()) / s.rows <= 0.013
    assert all(s.defective[k] > 0 for k in DEFECT_KINDS)
    data = [tuple(r) for r in rows[1:]]
    assert len(data) - len(set(data)) >= s.duplicates * 0.9  # verbatim repeats inside the file
    assert sum(1 for r in data if r[1] == "") >= s.defective["missing_first_name"]


def test_same_seed_same_bytes(tmp_path):
    a, b = tmp_path / "a.csv", tmp_path / "b.csv"
    write_clinic_csv(a, 3000, seed=9, match_invites=1000)
    write_clinic_csv(b, 3000, seed=9, match_invites=1000)
    assert hashlib.sha256(a.read_bytes()).digest() == hashlib.sha256(b.read_bytes()).digest()


def test_matching_rows_come_from_seeded_invites(seeded: Seeded, tmp_path):
    path = tmp_path / "clinic.csv"
    s = write_clinic_csv(path, 1000, seed=42, match_uri=seeded.uri)
    assert s.match_source == "database" and s.matching > 0
    pairs = {(keys.email_key(r[0]), keys.key_form(r[1])) for r in read(path)[1:]}
    known = {(str(e), str(f)) for e, f in _invite_keys(seeded)}
    assert len(pairs & known) >= s.matching


def test_generator_matches_equal_database_matches_for_the_same_seed(seeded: Seeded, tmp_path):
    # the DB was seeded with 400 invites, 2 missing names, seed 42: the pure generator knows the same persons
    path = tmp_path / "clinic.csv"
    s = write_clinic_csv(path, 1000, seed=42, match_invites=SMALL_N, match_missing_names=MISSING_NAMES)
    pairs = {(keys.email_key(r[0]), keys.key_form(r[1])) for r in read(path)[1:]}
    assert s.matching > 0 and len(pairs & set(_invite_keys(seeded))) >= s.matching


def test_cli_writes_the_csv_and_prints_counts_only(tmp_path, capsys):
    path = tmp_path / "clinic.csv"
    assert main(["--csv-clinic", str(path), "--rows", "500", "--invites", "300"]) == 0
    out = capsys.readouterr().out
    assert "rows=500" in out and "@" not in out
    assert len(read(path)) == 501


def _invite_keys(seeded: Seeded) -> list[tuple[str, str]]:
    import psycopg

    with psycopg.connect(seeded.uri) as conn:
        return [(r[0], r[1]) for r in conn.execute(
            "SELECT patient_pipeline.email_key(email), patient_pipeline.key_form(first_name) FROM invites "
            "WHERE first_name IS NOT NULL")]
