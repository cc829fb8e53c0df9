"""The default model's decisions on small crafted pairs, one per comparison level (DuckDB only: no database).

Each pair is scored by the shipped model with the default threshold; the evidence names the level that
applied per field. A realistic slip (typo, nickname, transposed or swapped birth date, married name, new
e-mail, names swapped) is queued; a household (twins, spouses sharing an e-mail, father and son) is not.
"""

from __future__ import annotations

import json
import socket
from datetime import date

import pytest

from include.identity import engine
from include.identity.config import DEFAULT_THRESHOLD, MatcherSettings
from include.identity.generator import GenRecord
from include.identity.model import default_model
from include.identity.synthetic import write_raw_csv

BASE = dict(first_name="Jonathan", last_name="Whitfield", date_of_birth=date(1972, 3, 8),
            email="jon.whitfield@mail.example", phone="+15551234567")


# (name, second record's changes, namespace, field -> expected level, queued?)
CASES = [
    ("first_name_typo", dict(first_name="Jonahtan", email="jw72@post.example"), "fhir-id",
     {"first_name": "jaro_winkler_0.92"}, True),
    ("nickname", dict(first_name="Jon", email=None), "fhir-id", {"first_name": "nickname"}, True),
    ("same_person_other_source", dict(email=None), "fhir-id", {"date_of_birth": "exact"}, True),
    ("dob_digits_transposed", dict(date_of_birth=date(1927, 3, 8), email=None), "fhir-id",
     {"date_of_birth": "one_edit_or_transposed"}, True),
    ("dob_day_month_swap", dict(date_of_birth=date(1972, 8, 3), email=None), "fhir-id",
     {"date_of_birth": "day_month_swapped"}, True),
    # the same year alone (other day and month) is weak evidence: not queued on names + phone
    ("dob_same_year", dict(date_of_birth=date(1972, 9, 30), email=None), "fhir-id",
     {"date_of_birth": "same_year"}, False),
    ("married_name", dict(last_name="Okafor", email=None), "fhir-id", {"last_name": "else"}, True),
    ("hyphenated_name", dict(last_name="Whitfield-Okafor", email=None), "fhir-id",
     {"last_name": "hyphenated"}, True),
    ("new_email_same_local_part", dict(email="jon.whitfield@post.example"), "fhir-id",
     {"email": "same_local_part"}, True),
    ("names_swapped", dict(first_name="Whitfield", last_name="Jonathan", email=None), "fhir-id",
     {"first_name": "swapped"}, True),
    ("phone_last_7", dict(phone="+15441234567", email=None), "fhir-id", {"phone": "last_7_digits"}, True),
    ("twin", dict(first_name="Marcus"), "ehr-mrn", {"email": "exact_household", "phone": "exact_household",
                                                   "date_of_birth": "exact"}, False),
    ("spouse_sharing_email", dict(first_name="Patricia", date_of_birth=date(1975, 8, 2)), "fhir-id",
     {"email": "exact_household", "last_name": "exact"}, False),
    ("father_and_son", dict(date_of_birth=date(1998, 11, 5), email="jwhitfield98@mail.example"), "ehr-mrn",
     {"first_name": "exact", "date_of_birth": "else", "phone": "exact_household"}, False),
    ("same_namespace_other_value", dict(first_name="Jonathon", email=None, phone=None), "ehr-mrn",
     {"identifiers": "same_namespace_other_value"}, True),
]


@pytest.fixture(scope="module")
def scored(tmp_path_factory) -> dict[str, tuple[float, dict]]:
    records, names = [], {}
    for i, (name, changes, ns, _, _) in enumerate(CASES):
        # every case gets its own surname so that cases do not pair with each other
        surname = f"Whitfield{chr(97 + i)}" if name not in ("names_swapped",) else "Whitfield"
        base = {**BASE, "last_name": surname, "email": f"jw{i}@mail.example", "phone": f"+1555123{i:04d}"}
        a = GenRecord(f"a{i:02d}", i, "t", base["first_name"], base["last_name"], base["date_of_birth"],
                      base["email"], base["phone"], (("ehr-mrn", f"A{i:02d}"),), "none", "t")
        ch = dict(changes)
        if "last_name" in ch and ch["last_name"].startswith("Whitfield-"):
            ch["last_name"] = f"{surname}-Okafor"
        if name == "names_swapped":
            a = GenRecord(a.record_id, i, "t", "Jonathan", "Whitfield", a.date_of_birth, a.email, a.phone,
                          a.identifiers, "none", "t")
        if name in ("twin", "spouse_sharing_email"):
            ch.setdefault("email", base["email"])
        if name in ("twin", "father_and_son"):
            ch["phone"] = base["phone"]
        if name == "new_email_same_local_part":
            ch["email"] = f"jw{i}@post.example"
        if name == "phone_last_7":
            ch["phone"] = f"+1444123{i:04d}"
        d = {**base, **ch}
        b = GenRecord(f"b{i:02d}", i, "t", d["first_name"], d["last_name"], d["date_of_birth"], d["email"],
                      d["phone"], ((ns, f"B{i:02d}"),), "none", "t")
        records += [a, b]
        names[(a.record_id, b.record_id)] = name
    cfg = MatcherSettings(memory_mb=256, threads=1, work_root=tmp_path_factory.mktemp("m"))
    with engine.session(cfg) as s:
        path = s.workdir / "raw.csv"
        write_raw_csv(records, path)
        engine.load_raw_csv(s, path)
        engine.build_records(s)
        engine.score(s, default_model(), threshold=0.0, incremental=False)
        rows = s.con.execute("SELECT patient_id, candidate_patient_id, match_probability, evidence FROM scored").fetchall()
    return {names[(a, b)]: (p, json.loads(e)) for a, b, p, e in rows if (a, b) in names}


@pytest.mark.parametrize("case", CASES, ids=[c[0] for c in CASES])
def test_each_comparison_level_decides_the_crafted_pair(scored, case):
    name, _, _, levels, queued = case
    assert name in scored, f"{name}: the blocking rules did not pair the two records"
    probability, evidence = scored[name]
    for field, level in levels.items():
        assert evidence[field]["level"] == level, (name, field, evidence[field])
    assert (probability >= DEFAULT_THRESHOLD) is queued, (name, round(probability, 4))
    assert set(evidence) == {"first_name", "last_name", "date_of_birth", "email", "phone", "identifiers"}


def test_household_levels_weigh_nothing(scored):
    _, evidence = scored["twin"]
    assert evidence["email"]["weight"] == 0 and evidence["phone"]["weight"] == 0


def test_a_scoring_pass_downloads_nothing_and_removes_its_directory(tmp_path, monkeypatch):
    def no_network(*a, **k):
        raise AssertionError("network access attempted")

    monkeypatch.setattr(socket.socket, "connect", no_network)
    monkeypatch.setattr(socket, "create_connection", no_network)
    cfg = MatcherSettings(memory_mb=256, threads=1, work_root=tmp_path)
    with engine.session(cfg) as s:
        assert (s.workdir.stat().st_mode & 0o777) == 0o700
        from include.identity.generator import Generator

        path = s.workdir / "raw.csv"
        write_raw_csv(Generator(3).generate(300).records, path)
        assert (path.stat().st_mode & 0o777) == 0o600
        engine.load_raw_csv(s, path)
        engine.build_records(s)
        engine.score(s, default_model(), threshold=0.5, incremental=False)
        assert s.con.execute("SELECT count(*) FROM duckdb_extensions() WHERE installed AND install_mode = "
                             "'REPOSITORY'").fetchall()[0][0] == 0
        settings = dict(s.con.execute(
            "SELECT name, value FROM duckdb_settings() WHERE name IN "
            "('autoinstall_known_extensions', 'autoload_known_extensions', 'memory_limit')").fetchall())
        assert settings["autoinstall_known_extensions"] == "false"
        assert settings["autoload_known_extensions"] == "false"
        workdir = s.workdir
    assert not workdir.exists()
