"""The intake API on the write path per person (docs/concurrency-and-identity-keys.md), against real servers on
both PostgreSQL servers: identifiers per namespace (docs/contracts/identity.md 1b), row-level identity conflicts (never a
500), a revoked key refused within the auth cache's bound, the rate limit shared by two worker processes, and
a race of threads, processes, bulk calls and two files of two sources creating the same people at once."""

from __future__ import annotations

import json
import os
import random
import subprocess
import sys
import threading
import time
from pathlib import Path

import httpx
import sqlalchemy as sa

from include.api import keys
from include.core import settings
from include.imports import file_import
from include.imports.sources import load_sources
from tests.api.conftest import ACCT_A, start_server

PROJECT_ROOT = settings.PROJECT_ROOT


def xref_of(env, patient_id: str) -> list[tuple]:
    with env.engine.connect() as conn:
        return [tuple(r) for r in conn.execute(sa.text(
            "SELECT namespace, value FROM patient_pipeline.patient_identifier WHERE patient_id = :p "
            "ORDER BY namespace"), {"p": patient_id})]


def test_a_second_systems_identifier_is_linked_and_found_in_its_namespace(server, api_env):
    h = api_env.headers("a")
    first = server.client.post("/api/patients", headers=h, json={
        "first_name": "Nia", "last_name": "Space", "email": "nia.ns@example.org", "external_id": "L-1",
        "identifier_namespace": "urn:lab"})
    assert first.status_code == 201, first.text
    pid = first.json()["id"]
    second = server.client.post("/api/patients", headers=h, json={
        "first_name": "NIA", "last_name": "Space", "email": "Nia.NS@example.org", "external_id": "E-9",
        "identifier_namespace": "urn:ehr"})
    assert (second.status_code, second.json()["id"], second.json()["external_id"]) == (200, pid, "L-1")
    assert xref_of(api_env, pid) == [("urn:ehr", "E-9"), ("urn:lab", "L-1")]
    by_lab_id = server.client.post("/api/patients", headers=h, json={
        "first_name": "Nia", "last_name": "Space", "external_id": "L-1", "identifier_namespace": "urn:lab",
        "phone": "+12025550142"})
    assert (by_lab_id.status_code, by_lab_id.json()["id"], by_lab_id.json()["outcome"]) == (200, pid, "updated")
    # the same value in the default API namespace is another system's identifier: not this patient
    other = server.client.post("/api/patients", headers=h, json={
        "first_name": "Oz", "last_name": "Other", "external_id": "L-1"})
    assert other.status_code == 201 and other.json()["id"] != pid


def test_the_same_namespace_with_another_value_is_409_and_a_review_item(server, api_env):
    h = api_env.headers("a")
    made = server.client.post("/api/patients", headers=h, json={
        "first_name": "Ola", "last_name": "Conf", "email": "ola.conf@example.org", "external_id": "C-1"})
    assert made.status_code == 201
    r = server.client.post("/api/patients", headers=h, json={
        "first_name": "Ola", "last_name": "Conf", "email": "ola.conf@example.org", "external_id": "C-2"})
    assert r.status_code == 409 and r.json()["code"] == "identity_conflict"
    assert r.json()["conflicting_patient_ids"] == [made.json()["id"]]
    kind = api_env.scalar("SELECT kind FROM patient_pipeline.review_queue WHERE patient_id = :p "
                          "AND kind = 'identity_conflict'", p=made.json()["id"])
    assert kind == "identity_conflict"


def test_an_update_that_would_take_another_patients_identity_key_is_409_naming_both(server, api_env):
    with api_env.engine.begin() as conn:
        conn.execute(sa.text(
            "INSERT INTO patients (id, account_id, external_id, email, first_name, last_name, status) VALUES "
            "('api-ann', :a, 'KX1', 'kin@example.org', 'Ann', 'Kin', 'pending'), "
            "('api-bob', :a, NULL, 'kin@example.org', 'Bob', 'Kin', 'pending')"), {"a": ACCT_A})
    r = server.client.post("/api/patients", headers=api_env.headers("a"), json={
        "first_name": "Bob", "last_name": "Kin", "external_id": "KX1"})
    assert r.status_code == 409 and r.json()["code"] == "identity_conflict", r.text
    assert sorted(r.json()["conflicting_patient_ids"]) == ["api-ann", "api-bob"]
    assert api_env.scalar("SELECT first_name FROM patients WHERE id = 'api-ann'") == "Ann"


def test_a_key_revoked_while_the_server_runs_is_refused_within_the_auth_cache_bound(api_env, tmp_path: Path):
    with api_env.engine.connect() as conn:
        new = keys.create(conn, ACCT_A, "revoked later")
    h = {"Authorization": f"Bearer {new.token}"}
    with start_server(api_env, tmp_path / "server.log", GENASCOPE_API_AUTH_CACHE_SECONDS="1") as srv:
        assert srv.client.get("/api/patients?limit=1", headers=h).status_code == 200
        with api_env.engine.connect() as conn:
            keys.revoke(conn, new.key.key_id)
        revoked_at = time.monotonic()
        while srv.client.get("/api/patients?limit=1", headers=h).status_code == 200:
            assert time.monotonic() - revoked_at < 5, "a revoked key was still accepted after the cache bound"
            time.sleep(0.2)


def test_the_rate_limit_is_shared_by_two_worker_processes(api_env, tmp_path: Path):
    with api_env.engine.connect() as conn:
        new = keys.create(conn, ACCT_A, "rate shared")
    h = {"Authorization": f"Bearer {new.token}"}
    with start_server(api_env, tmp_path / "server.log", server_args=("--workers", "2"),
                      GENASCOPE_API_RATE_PER_MINUTE="6", GENASCOPE_API_RATE_BURST="4") as srv:
        pids = set()
        codes = []
        for _ in range(16):  # a new connection per call: the kernel spreads them over both workers
            with httpx.Client(base_url=srv.base_url, timeout=60) as c:
                r = c.get("/api/patients?limit=1", headers=h)
                codes.append(r.status_code)
        pids = {p.pid for p in _children(srv.proc.pid)}
    assert len(pids) >= 2  # two workers (plus multiprocessing's resource tracker)
    # one bucket of 4 (+ at most one token refilled at 6/min while the calls ran), not one per worker
    assert codes.count(200) <= 5 and codes.count(429) >= 11, codes


def _children(pid: int):
    import psutil

    return psutil.Process(pid).children()


RACE_PEOPLE = 24
SINGLE_THREADS = 4
BULK_PROCESSES = 2
BULK_SCRIPT = """
import json, sys, random, httpx
base, token, seed, people = sys.argv[1], sys.argv[2], int(sys.argv[3]), json.loads(sys.argv[4])
rng = random.Random(seed)
codes = []
with httpx.Client(base_url=base, timeout=300, headers={"Authorization": "Bearer " + token}) as c:
    for _ in range(2):
        rows = people[:]
        rng.shuffle(rows)
        for start in range(0, len(rows), 8):
            r = c.post("/api/patients/bulk", json=rows[start:start + 8])
            codes.append(r.status_code)
            if r.status_code == 200:
                body = r.json()
                assert body["reconciled"], body["counts"]
                assert all(x["outcome"] in ("inserted", "updated", "unchanged") for x in body["rows"]), body["rows"]
print(json.dumps(codes))
"""


def person(i: int) -> dict[str, str]:
    return {"first_name": f"Race{i}", "last_name": "Same", "email": f"race.{i}@example.org",
            "date_of_birth": f"19{50 + i}-01-02"}


def test_threads_processes_bulk_calls_and_two_files_creating_the_same_people_make_one_patient_each(
        server, api_env, tmp_path: Path, monkeypatch):
    monkeypatch.setattr(settings, "RUNS_DIR", tmp_path / "runs")
    from include.imports import merge

    monkeypatch.setattr(merge, "CHUNK_ROWS", 5)  # the files' merges commit in several chunks, interleaved
    people = [person(i) for i in range(RACE_PEOPLE)]
    north = load_sources()["clinic-north-csv"]
    sources, paths = [], []
    for name in ("race-ehr", "race-lab"):
        landing = tmp_path / name
        (landing / "incoming").mkdir(parents=True)
        src = north.with_overrides(id=name, account_id=ACCT_A, landing=str(landing), column_mapping=None,
                                   date_formats=("%Y-%m-%d",), max_reject_ratio=0.0,
                                   identifier_namespace=f"urn:{name}")
        rows = [f"{p['email']},{p['first_name']},{p['last_name']},,{name.upper()}-{i},{p['date_of_birth']}"
                for i, p in enumerate(people)]
        random.Random(name).shuffle(rows)
        path = landing / "incoming" / f"{name}.csv"
        path.write_text("email,first_name,last_name,phone,external_id,date_of_birth\n" + "\n".join(rows) + "\n")
        sources.append(src)
        paths.append(str(path))

    errors: list[str] = []
    single_codes: list[int] = []
    file_results = []
    start = threading.Barrier(SINGLE_THREADS + len(sources))

    def singles(n: int) -> None:
        rng = random.Random(n)
        order = people[:]
        rng.shuffle(order)
        with httpx.Client(base_url=server.base_url, timeout=300) as c:
            start.wait()
            for p in order:
                body = {**p, "external_id": f"API-{p['first_name']}"} if n % 2 else p
                r = c.post("/api/patients", headers=api_env.headers("a"), json=body)
                single_codes.append(r.status_code)
                if r.status_code not in (200, 201):
                    errors.append(f"single {r.status_code} {r.json().get('code')}")

    def import_one(i: int) -> None:
        start.wait()
        try:
            file_results.append(file_import.import_file(api_env.engine, sources[i], paths[i], run_id=f"race-{i}"))
        except Exception as exc:  # noqa: BLE001  (reported below by type only)
            errors.append(f"file {type(exc).__name__}")

    procs = [subprocess.Popen(
        [sys.executable, "-c", BULK_SCRIPT, server.base_url, api_env.keys["a"], str(n), json.dumps(people)],
        cwd=PROJECT_ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        env={**os.environ, "PYTHONPATH": str(PROJECT_ROOT)}) for n in range(BULK_PROCESSES)]
    threads = [threading.Thread(target=singles, args=(n,)) for n in range(SINGLE_THREADS)]
    threads += [threading.Thread(target=import_one, args=(i,)) for i in range(len(sources))]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=900)
    bulk_codes = []
    for p in procs:
        out, err = p.communicate(timeout=900)
        assert p.returncode == 0, err[-2000:]
        bulk_codes += json.loads(out.strip().splitlines()[-1])

    assert errors == [] and set(single_codes) <= {200, 201} and set(bulk_codes) == {200}
    assert len(single_codes) == SINGLE_THREADS * RACE_PEOPLE
    # every person is exactly one patient, holding every system's identifier
    with api_env.engine.connect() as conn:
        counts = conn.execute(sa.text(
            "SELECT email, count(*) FROM patients WHERE account_id = :a AND email LIKE 'race.%' GROUP BY email"),
            {"a": ACCT_A}).all()
        links = conn.execute(sa.text(
            "SELECT count(DISTINCT x.patient_id), count(*) FROM patient_pipeline.patient_identifier x "
            "JOIN patients p ON p.id = x.patient_id WHERE p.email LIKE 'race.%'")).one()
    assert len(counts) == RACE_PEOPLE and {n for _, n in counts} == {1}
    # two files' MRNs for everyone, the API's for everyone (threads 1 and 3 sent one)
    assert tuple(links) == (RACE_PEOPLE, 3 * RACE_PEOPLE)
    # every row of both files accounted for, none quarantined
    assert sorted(r.status for r in file_results) == ["done", "done"]
    for r in file_results:
        assert r.reconciled and r.rows_read == RACE_PEOPLE and r.quarantined == 0
        assert r.inserted + r.updated + r.unchanged == RACE_PEOPLE
