"""Tenancy (ids, filters, bodies), keys (missing, malformed, wrong, revoked) and limits (413, 429)."""

from __future__ import annotations

import io
import uuid

import pytest
import sqlalchemy as sa

from tests.api.conftest import ACCT_A, ACCT_B, audit_rows, start_server


def person(tag: str, **extra: str) -> dict:
    return {"first_name": f"Fn{tag}", "last_name": f"Ln{tag}", "email": f"p{tag}@example.org",
            "external_id": f"MRN-{tag}", **extra}


def test_another_accounts_patient_is_404_by_id_and_invisible_through_filters(server, api_env):
    t = uuid.uuid4().hex[:8]
    mine = server.client.post("/api/patients", json=person(t), headers=api_env.headers("a")).json()
    r = server.client.get(f"/api/patients/{mine['id']}", headers=api_env.headers("b"))
    assert r.status_code == 404 and r.json()["code"] == "not_found"
    for params in ({"external_id": f"MRN-{t}"}, {"email": f"p{t}@example.org"}, {"last_name": f"Ln{t}"}):
        r = server.client.get("/api/patients", params=params, headers=api_env.headers("b"))
        assert r.status_code == 200 and r.json()["items"] == []
    r = server.client.get("/api/patients", params={"account_id": ACCT_A}, headers=api_env.headers("b"))
    assert r.status_code == 403 and r.json()["code"] == "account_forbidden"
    status = server.client.get("/api/patients", params={"external_id": f"MRN-{t}"}, headers=api_env.headers("a"))
    assert len(status.json()["items"]) == 1
    file_id = mine["file_id"]
    assert server.client.get(f"/api/patients/imports/{file_id}", headers=api_env.headers("b")).status_code == 404
    assert server.client.get(f"/api/patients/imports/{file_id}", headers=api_env.headers("a")).status_code == 200


def test_a_body_cannot_write_into_another_account(server, api_env):
    t = uuid.uuid4().hex[:8]
    r = server.client.post("/api/patients", json=person(t, account_id=ACCT_A), headers=api_env.headers("b"))
    assert r.status_code == 403 and r.json()["code"] == "account_forbidden"
    r = server.client.post("/api/patients/bulk", json=[person(t, account_id=ACCT_A)], headers=api_env.headers("b"))
    assert r.status_code == 403
    r = server.client.post("/api/patients/import-csv", data={"account_id": ACCT_A},
                           files={"file": ("x.csv", io.BytesIO(b"email,first_name,last_name\n"), "text/csv")},
                           headers=api_env.headers("b"))
    assert r.status_code == 403
    assert api_env.scalar("SELECT count(*) FROM patients WHERE external_id = :e", e=f"MRN-{t}") == 0
    # its own account named explicitly is fine
    r = server.client.post("/api/patients", json=person(t, account_id=ACCT_B), headers=api_env.headers("b"))
    assert r.status_code == 201 and r.json()["account_id"] == ACCT_B


def test_an_admin_key_spans_accounts_when_it_names_one(server, api_env):
    t = uuid.uuid4().hex[:8]
    mine = server.client.post("/api/patients", json=person(t), headers=api_env.headers("a")).json()
    assert server.client.get(f"/api/patients/{mine['id']}", headers=api_env.headers("admin")).status_code == 200
    r = server.client.post("/api/patients", json=person(f"{t}adm", account_id=ACCT_A), headers=api_env.headers("admin"))
    assert r.status_code == 201 and r.json()["account_id"] == ACCT_A
    r = server.client.get("/api/patients", params={"account_id": ACCT_A, "external_id": f"MRN-{t}"},
                          headers=api_env.headers("admin"))
    assert [p["id"] for p in r.json()["items"]] == [mine["id"]]
    r = server.client.post("/api/patients", json=person(t, account_id="acct-nowhere"), headers=api_env.headers("admin"))
    assert r.status_code == 404 and r.json()["code"] == "account_not_found"


@pytest.mark.parametrize("header", [
    None, "Bearer", "Basic dXNlcjpwYXNz", "Bearer gsk_nope", "Bearer gsk_000000000000_" + "A" * 43, "wrong-secret",
    "revoked"])
def test_missing_malformed_unknown_wrong_and_revoked_keys_are_401(server, api_env, header):
    if header == "wrong-secret":
        header = "Bearer " + api_env.keys["a"][:-4] + "AAAA"
    elif header == "revoked":
        header = "Bearer " + api_env.keys["revoked"]
    headers = {"Authorization": header} if header else {}
    before = len(audit_rows(api_env, None))
    for method, path in (("GET", "/api/patients"), ("POST", "/api/patients"), ("GET", "/api/patients/x")):
        r = server.client.request(method, path, headers=headers, json=person("x") if method == "POST" else None)
        assert r.status_code == 401, (header, path)
        assert r.json()["code"] == "unauthorized" and r.headers["www-authenticate"] == "Bearer"
    rows = audit_rows(api_env, None)[before:]
    assert [(r.route, r.status) for r in rows] == [("/api/patients", 401), ("/api/patients", 401),
                                                   ("/api/patients/{patient_id}", 401)]


@pytest.fixture(scope="module")
def limited(api_env, tmp_path_factory):
    log = tmp_path_factory.mktemp("limited") / "server.log"
    with start_server(api_env, log, GENASCOPE_API_MAX_BODY_BYTES="4000", GENASCOPE_API_MAX_BULK_ROWS="5",
                      GENASCOPE_API_MAX_UPLOAD_BYTES="2000", GENASCOPE_API_RATE_PER_MINUTE="6",
                      GENASCOPE_API_RATE_BURST="5") as srv:
        yield srv


def test_bodies_rows_and_uploads_over_the_limits_are_413(limited, api_env):
    big = [person(f"big{i}") for i in range(60)]
    r = limited.client.post("/api/patients/bulk", json=big, headers=api_env.headers("b"))
    assert r.status_code == 413 and r.json()["code"] == "body_too_large"
    # answered before the key is read, and still audited (route template and status, no key)
    assert [(a.route, a.status) for a in audit_rows(api_env, None)][-1] == ("/api/patients/bulk", 413)

    def chunks():  # no Content-Length: counted while it streams in
        yield b"["
        for i in range(200):
            yield (b"," if i else b"") + b'{"first_name": "Chunk", "last_name": "Ed", "external_id": "C%d"}' % i
        yield b"]"

    r = limited.client.post("/api/patients/bulk", content=chunks(),
                            headers=api_env.headers("b", **{"content-type": "application/json"}))
    assert r.status_code == 413 and r.json()["code"] == "body_too_large"
    r = limited.client.post("/api/patients/bulk", json=[person(f"r{i}") for i in range(6)], headers=api_env.headers("a"))
    assert r.status_code == 413 and r.json()["code"] == "too_many_rows"
    upload = b"email,first_name,last_name,phone,external_id,date_of_birth\n" + b"x@example.org,A,B,,E1,\n" * 100
    r = limited.client.post("/api/patients/import-csv", files={"file": ("big.csv", io.BytesIO(upload), "text/csv")},
                            headers=api_env.headers("admin"))
    assert r.status_code == 413
    assert api_env.scalar("SELECT count(*) FROM patients WHERE external_id IN ('C1', 'MRN-r1', 'MRN-big1')") == 0


def test_a_key_over_its_rate_is_429_with_retry_after(limited, api_env):
    codes = [limited.client.get("/api/patients", params={"limit": 1}, headers=api_env.headers("a")).status_code
             for _ in range(8)]
    assert codes[:3] == [200] * 3 and codes[-1] == 429
    r = limited.client.get("/api/patients", headers=api_env.headers("a"))
    assert r.status_code == 429 and int(r.headers["retry-after"]) >= 1 and r.json()["code"] == "rate_limited"
    # the limit is per key
    assert limited.client.get("/api/patients", params={"limit": 1}, headers=api_env.headers("b")).status_code == 200
    statuses = [row.status for row in audit_rows(api_env, api_env.key_ids["a"])]
    assert 429 in statuses


def test_database_work_over_the_statement_timeout_is_503_and_merges_nothing(api_env, tmp_path):
    with api_env.engine.begin() as conn:
        conn.execute(sa.text(
            "CREATE OR REPLACE FUNCTION test_slow_insert() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN "
            "IF NEW.external_id = 'MRN-slow' THEN PERFORM pg_sleep(5); END IF; RETURN NEW; END $$"))
        conn.execute(sa.text("CREATE TRIGGER test_slow BEFORE INSERT ON patients FOR EACH ROW "
                             "EXECUTE FUNCTION test_slow_insert()"))
    try:
        with start_server(api_env, tmp_path / "server.log", GENASCOPE_API_STATEMENT_TIMEOUT_MS="1500") as srv:
            rows = [person(f"slow{i}") for i in range(3)] + [person("slow") | {"external_id": "MRN-slow"}]
            r = srv.client.post("/api/patients/bulk", json=rows, headers=api_env.headers("b"))
    finally:
        with api_env.engine.begin() as conn:
            conn.execute(sa.text("DROP TRIGGER test_slow ON patients"))
    assert r.status_code == 503 and r.json()["code"] == "timeout" and r.headers["retry-after"]
    assert api_env.scalar("SELECT count(*) FROM patients WHERE external_id LIKE 'MRN-slow%'") == 0
