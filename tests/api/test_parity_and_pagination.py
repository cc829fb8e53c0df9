"""The same rows through the API and through a CSV file import give the same patients and decisions; keyset
pagination stays stable while other calls insert patients; the server log holds none of the values sent."""

from __future__ import annotations

import csv
import io
import re
import threading
import time
import uuid
from pathlib import Path

import sqlalchemy as sa

from include.core import settings
from include.imports import file_import
from include.imports.sources import load_sources
from tests.api.conftest import ACCT_B

FIELDS = ("email", "first_name", "last_name", "phone", "external_id", "date_of_birth")
EXISTING = [  # in both accounts before the delivery
    {"external_id": "E-1", "email": "one@example.org", "first_name": "One", "last_name": "Old", "phone": "+12025550101"},
    {"external_id": None, "email": "two@example.org", "first_name": "Two", "last_name": "Old", "phone": None},
    {"external_id": "E-3", "email": "three@example.org", "first_name": "Three", "last_name": "Old", "phone": None},
    {"external_id": None, "email": "dob@example.org", "first_name": "Dee", "last_name": "Obb", "phone": None,
     "date_of_birth": "1970-05-05"},
]
ROWS = [
    {"email": "new1@example.org", "first_name": "New", "last_name": "One", "phone": "(202) 555-0110",
     "external_id": "N-1", "date_of_birth": "1981-02-03"},
    {"email": "new1@example.org", "first_name": "New", "last_name": "One", "phone": "(202) 555-0110",
     "external_id": "N-1", "date_of_birth": "1981-02-03"},  # copy in the same delivery
    {"email": "", "first_name": "One", "last_name": "Newer", "phone": "", "external_id": "E-1", "date_of_birth": ""},
    {"email": "TWO@example.org", "first_name": "Two", "last_name": "Old", "phone": "2025550102", "external_id": "",
     "date_of_birth": ""},
    {"email": "two@example.org", "first_name": "Two", "last_name": "Old", "phone": "", "external_id": "E-3",
     "date_of_birth": ""},  # E-3 is another patient: identity conflict
    {"email": "x@example.org", "first_name": "N/A", "last_name": "X", "phone": "", "external_id": "N-2",
     "date_of_birth": ""},
    {"email": "bad@", "first_name": "Bad", "last_name": "Mail", "phone": "", "external_id": "N-3", "date_of_birth": ""},
    {"email": "", "first_name": "Fut", "last_name": "Ure", "phone": "", "external_id": "N-4", "date_of_birth": "2999-01-01"},
    {"email": "", "first_name": "Ph", "last_name": "One", "phone": "12", "external_id": "N-5", "date_of_birth": ""},
    {"email": "dee2@example.org", "first_name": "Dee", "last_name": "Obb", "phone": "", "external_id": "N-6",
     "date_of_birth": "1970-05-05"},  # name + DOB look-alike: review item, new patient
    {"email": "n7@example.org", "first_name": "  Zoë  ", "last_name": "Ñandú", "phone": "+44 20 7946 0958",
     "external_id": "N-7", "date_of_birth": "1999-12-31"},
]
# (An all-empty CSV line is skipped by the CSV reader, while an all-empty JSON object is a row the caller sent
# and gets its outcome, quarantined: that row is left out of the comparison on purpose.)


def seed(engine: sa.Engine, account: str) -> None:
    with engine.begin() as conn:
        for i, p in enumerate(EXISTING):
            conn.execute(sa.text(
                "INSERT INTO patients (id, account_id, external_id, email, first_name, last_name, phone, date_of_birth, "
                "status) VALUES (:id, :a, :external_id, :email, :first_name, :last_name, :phone, "
                "CAST(:dob AS date), 'active')"),
                {**p, "id": f"{account}-seed-{i}", "a": account, "dob": p.get("date_of_birth")})


def patients_of(engine: sa.Engine, account: str) -> list[tuple]:
    with engine.connect() as conn:
        rows = conn.execute(sa.text(
            "SELECT external_id, email, first_name, last_name, phone, date_of_birth, status, clinician_id, "
            "CASE WHEN id LIKE '%-seed-%' THEN split_part(id, '-seed-', 2) END AS seed_no "
            "FROM patients WHERE account_id = :a"), {"a": account}).all()
    return sorted((tuple(r) for r in rows), key=repr)


def quarantine_of(engine: sa.Engine, file_id: int) -> list[tuple]:
    with engine.connect() as conn:
        return [tuple(r) for r in conn.execute(sa.text(
            "SELECT record_no, reason_code, field FROM patient_pipeline.import_quarantine WHERE file_id = :f "
            "ORDER BY record_no"), {"f": file_id})]


def reviews_of(engine: sa.Engine, file_id: int) -> list[tuple]:
    with engine.connect() as conn:
        return [tuple(r) for r in conn.execute(sa.text(
            "SELECT record_no, kind FROM patient_pipeline.import_review WHERE file_id = :f ORDER BY record_no"),
            {"f": file_id})]


def test_the_same_rows_through_the_api_and_a_csv_file_give_the_same_patients_and_decisions(
        server, api_env, tmp_path: Path, monkeypatch):
    file_acct, api_acct = "acct-parity-file", "acct-parity-api"
    with api_env.engine.begin() as conn:
        for acct in (file_acct, api_acct):
            conn.execute(sa.text("INSERT INTO accounts (id, name) VALUES (:i, 'parity')"), {"i": acct})
    for acct in (file_acct, api_acct):
        seed(api_env.engine, acct)

    # the file: a CSV source with the platform header and ISO dates (what the API reads JSON as)
    landing = tmp_path / "parity"
    (landing / "incoming").mkdir(parents=True)
    source = load_sources()["clinic-north-csv"].with_overrides(
        id="parity-csv", account_id=file_acct, landing=str(landing), column_mapping=None, date_formats=("%Y-%m-%d",),
        max_reject_ratio=1.0)
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=FIELDS, lineterminator="\n")
    writer.writeheader()
    writer.writerows(ROWS)
    path = landing / "incoming" / "parity.csv"
    path.write_text(buf.getvalue(), encoding="utf-8")
    monkeypatch.setattr(settings, "RUNS_DIR", tmp_path / "runs")
    file_result = file_import.import_file(api_env.engine, source, str(path), run_id="parity")
    assert file_result.status == "done"

    # the API: the same rows as JSON (empty cells as empty strings, as the CSV has them)
    admin = api_env.headers("admin")
    r = server.client.post("/api/patients/bulk", json=[{**row, "account_id": api_acct} for row in ROWS], headers=admin)
    assert r.status_code == 200, r.text
    api = r.json()

    counts = {k: getattr(file_result, k) for k in ("inserted", "updated", "unchanged", "duplicates", "quarantined",
                                                    "review_items")}
    assert counts == {k: api["counts"][k] for k in counts}
    # the defects of the rows: 2 that cost the row (identity), the others field issues (the row imports)
    assert counts["inserted"] >= 3 and counts["updated"] >= 2 and counts["quarantined"] >= 2
    with api_env.engine.connect() as conn:
        issues = [conn.execute(sa.text("SELECT record_no, field, reason_code FROM patient_pipeline.import_field_issue "
                                       "WHERE file_id = :f ORDER BY 1, 2"), {"f": f}).all()
                  for f in (file_result.file_id, api["file_id"])]
    assert issues[0] == issues[1] and len(issues[0]) >= 3
    assert quarantine_of(api_env.engine, file_result.file_id) == quarantine_of(api_env.engine, api["file_id"])
    assert reviews_of(api_env.engine, file_result.file_id) == reviews_of(api_env.engine, api["file_id"])
    assert patients_of(api_env.engine, file_acct) == patients_of(api_env.engine, api_acct)
    api_quarantined = [(x["index"] + 1, x["reason_codes"][0], x["field"]) for x in api["rows"]
                       if x["outcome"] == "quarantined"]
    assert api_quarantined == quarantine_of(api_env.engine, file_result.file_id)


def test_pagination_is_stable_while_patients_are_inserted(server, api_env):
    t = uuid.uuid4().hex[:6]
    rows = [{"first_name": f"Pg{t}", "last_name": f"Page{i:03d}", "external_id": f"PG-{t}-{i}"} for i in range(60)]
    assert server.client.post("/api/patients/bulk", json=rows, headers=api_env.headers("b")).status_code == 200
    with api_env.engine.connect() as conn:
        before = [r[0] for r in conn.execute(sa.text(
            "SELECT id FROM patients WHERE account_id = :a ORDER BY created_at, id"), {"a": ACCT_B})]
    stop = threading.Event()
    inserted = []

    def writer() -> None:
        import httpx

        with httpx.Client(base_url=server.base_url, timeout=60) as client:
            i = 0
            while not stop.is_set():
                batch = [{"first_name": f"Cc{t}", "last_name": "Conc", "external_id": f"CC-{t}-{i}-{j}"} for j in range(5)]
                r = client.post("/api/patients/bulk", json=batch, headers=api_env.headers("b"))
                inserted.append(r.status_code)
                i += 1

    thread = threading.Thread(target=writer)
    thread.start()
    try:
        seen, cursor, pages = [], None, 0
        while True:
            if not stop.is_set():  # let the writer commit a batch between two pages
                n, deadline = len(inserted), time.monotonic() + 20
                while len(inserted) == n and time.monotonic() < deadline:
                    time.sleep(0.02)
            params = {"limit": 7, **({"cursor": cursor} if cursor else {})}
            page = server.client.get("/api/patients", params=params, headers=api_env.headers("b")).json()
            seen += [(p["created_at"], p["id"]) for p in page["items"]]
            pages += 1
            cursor = page["next"]
            if not stop.is_set() and set(before) <= {i for _, i in seen}:
                stop.set()  # every row that existed is read; the rest of the pages hold the writer's rows
                thread.join()
            if not cursor:
                break
    finally:
        stop.set()
        thread.join()
    assert len(inserted) >= 8 and set(inserted) == {200}, "the writer did not insert while the pages were read"
    ids = [i for _, i in seen]
    assert len(ids) == len(set(ids)), "a row appeared twice"
    assert set(before) <= set(ids), "a row that existed before paging was skipped"
    assert seen == sorted(seen), "pages are not in (created_at, id) order"
    assert pages > 8


def test_the_server_log_holds_none_of_the_values_sent(server, api_env):
    """Runs last in this module: every value the module's tests sent must be absent from the server's log."""
    # a few more calls that carry values in places a log could pick up: query strings, bad values, conflicts
    server.client.get("/api/patients", params={"email": "new1@example.org", "last_name": "Ñandú"},
                      headers=api_env.headers("admin"))
    server.client.post("/api/patients", json={"first_name": "Secret", "last_name": "Person", "email": "bad@@x",
                                              "external_id": "SECRET-MRN"}, headers=api_env.headers("a"))
    server.client.post("/api/patients", json={"first_name": "Secret", "last_name": "Person",
                                              "date_of_birth": "31/12/1999", "favourite": "SecretValue"},
                       headers=api_env.headers("a"))
    log = server.log()
    assert "include.api.access" in log  # the log is written, and it is the API's
    values = {v.strip() for row in ROWS + EXISTING for k, v in row.items() if v and len(v.strip()) >= 4}
    values |= {"Secret", "SECRET-MRN", "bad@@x", "31/12/1999", "SecretValue", "Ñandú"}
    digits = {re.sub(r"\D", "", v) for v in values if re.sub(r"\D", "", v) and len(re.sub(r"\D", "", v)) >= 7}
    found = sum(1 for v in values | digits if v in log)
    assert found == 0, f"{found} of the values sent are in the server log (not shown: they are PHI)"
    assert "?email" not in log and "new1%40" not in log
