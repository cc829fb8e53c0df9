"""Every outcome of the patients endpoints, through a real uvicorn server on a real database."""

from __future__ import annotations

import json
import uuid

import sqlalchemy as sa

from tests.api.conftest import ACCT_A, audit_rows


def uid() -> str:
    return uuid.uuid4().hex[:8]


def person(tag: str, **extra: str | None) -> dict:
    return {"first_name": f"Fn{tag}", "last_name": f"Ln{tag}", "email": f"p{tag}@example.org",
            "external_id": f"MRN-{tag}", **extra}


def test_a_new_patient_is_201_and_the_same_person_again_is_200_matched(server, api_env):
    t = uid()
    r = server.client.post("/api/patients", json=person(t, phone="(202) 555-0100", date_of_birth="1980-01-02"),
                           headers=api_env.headers())
    assert r.status_code == 201, r.text
    created = r.json()
    assert (created["matched"], created["outcome"], created["status"], created["account_id"]) == (
        False, "inserted", "pending", ACCT_A)
    assert created["phone"] == "+12025550100" and created["date_of_birth"] == "1980-01-02"

    # same external id, a new last name, no phone: updated, the stored phone is not blanked
    r = server.client.post("/api/patients", json=person(t, last_name="Newname", phone=None), headers=api_env.headers())
    assert r.status_code == 200, r.text
    again = r.json()
    assert (again["id"], again["matched"], again["outcome"]) == (created["id"], True, "updated")
    assert (again["last_name"], again["phone"]) == ("Newname", "+12025550100")
    fields = api_env.scalar("SELECT changed_fields FROM patient_pipeline.import_change_log WHERE patient_id = :p",
                            p=created["id"])
    assert fields == ["last_name"]

    # same e-mail key (other case) + first name, no external id: the same patient (the e-mail is stored as given)
    same_key = {"first_name": f"Fn{t}", "last_name": "Newname", "email": f"  P{t}@EXAMPLE.org "}
    r = server.client.post("/api/patients", json=same_key, headers=api_env.headers())
    assert r.status_code == 200 and (r.json()["id"], r.json()["outcome"]) == (created["id"], "updated")
    r = server.client.post("/api/patients", json=same_key, headers=api_env.headers())
    assert r.status_code == 200 and (r.json()["id"], r.json()["outcome"]) == (created["id"], "unchanged")
    assert api_env.scalar("SELECT count(*) FROM patients WHERE external_id = :e", e=f"MRN-{t}") == 1
    kinds = api_env.scalar("SELECT array_agg(DISTINCT source_kind) FROM patient_pipeline.import_file "
                           "WHERE source_id = 'api-acct-clinic-north'")
    assert kinds == ["api"]


def test_an_identity_conflict_is_409_naming_both_patients(server, api_env):
    a, b = uid(), uid()
    pa = server.client.post("/api/patients", json=person(a), headers=api_env.headers()).json()
    pb = server.client.post("/api/patients", json=person(b), headers=api_env.headers()).json()
    # a's external id with b's e-mail + first name
    r = server.client.post("/api/patients", json={**person(b), "external_id": f"MRN-{a}"}, headers=api_env.headers())
    assert r.status_code == 409
    assert r.headers["content-type"].startswith("application/problem+json")
    body = r.json()
    assert body["code"] == "identity_conflict" and sorted(body["conflicting_patient_ids"]) == sorted([pa["id"], pb["id"]])
    assert pa["id"] in body["detail"] and f"p{b}@example.org" not in r.text
    assert api_env.scalar("SELECT count(*) FROM patient_pipeline.import_quarantine q JOIN patient_pipeline.import_file f "
                          "USING (file_id) WHERE f.source_kind = 'api' AND q.reason_code = 'identity_conflict'") >= 1


def test_invalid_values_are_422_with_the_imports_reason_codes_and_no_value(server, api_env):
    t = uid()
    # What identifies the person (docs/contracts/imports.md "Real-world feeds"): names, and an identity (external id or a
    # valid e-mail). An invalid optional value is a field issue instead (test below).
    cases = [({**person(t), "first_name": "TBD"}, "missing_first_name", "first_name"),
             ({**person(t), "external_id": None, "email": "not-an-address@"}, "invalid_email", "email"),
             ({"first_name": "Ann", "last_name": "Lee"}, "missing_identifier", "external_id")]
    for body, code, field in cases:
        r = server.client.post("/api/patients", json=body, headers=api_env.headers())
        assert r.status_code == 422, (code, r.text)
        problem = r.json()
        assert (problem["code"], problem["field"]) == (code, field)
        for value in body.values():
            assert value is None or value not in problem["detail"]
    r = server.client.post("/api/patients", json={**person(t), "favourite_colour": "teal"}, headers=api_env.headers())
    assert r.status_code == 422 and r.json()["code"] == "invalid_request" and "teal" not in r.text
    r = server.client.post("/api/patients", content=b"{not json", headers=api_env.headers(**{"content-type": "application/json"}))
    assert r.status_code == 422 and r.json()["code"] == "invalid_request" and "not json" not in r.text
    assert api_env.scalar("SELECT count(*) FROM patients WHERE external_id = :e", e=f"MRN-{t}") == 0


def test_an_invalid_optional_value_is_dropped_and_recorded_as_a_field_issue(server, api_env):
    t = uid()
    for n, (field, value, code) in enumerate([("date_of_birth", "03/04/1965", "invalid_dob"),
                                              ("date_of_birth", "2999-01-01", "dob_in_future"),
                                              ("email", "not-an-address@", "invalid_email")]):
        r = server.client.post("/api/patients", json={**person(f"{t}{n}"), field: value}, headers=api_env.headers())
        assert r.status_code == 201, (code, r.text)
        assert r.json()[field] is None and value not in r.text
        assert api_env.scalar("SELECT count(*) FROM patient_pipeline.import_field_issue "
                              "WHERE file_id = :f AND field = :field AND reason_code = :code",
                              f=r.json()["file_id"], field=field, code=code) == 1


def test_bulk_answers_every_rows_outcome_with_reconciled_counts(server, api_env):
    t = uid()
    existing = server.client.post("/api/patients", json=person(f"{t}x"), headers=api_env.headers()).json()
    rows = [person(f"{t}0"), person(f"{t}1"), person(f"{t}0"),  # a copy of row 0
            {**person(f"{t}x"), "last_name": "Changed"},  # the existing patient, updated
            person(f"{t}x") | {"last_name": "Changed"},  # the same again in the same call: a copy
            {**person(f"{t}2"), "last_name": ""},  # quarantined
            {**person(f"{t}3"), "external_id": None, "email": "bad@"}]
    r = server.client.post("/api/patients/bulk", json=rows, headers=api_env.headers())
    assert r.status_code == 200, r.text
    body = r.json()
    outcomes = [(x["index"], x["outcome"], x["reason_codes"]) for x in body["rows"]]
    assert outcomes == [(0, "inserted", []), (1, "inserted", []), (2, "duplicate", []), (3, "updated", []),
                        (4, "duplicate", []), (5, "quarantined", ["missing_last_name"]),
                        (6, "quarantined", ["invalid_email"])]  # no external id: the e-mail is its only identity
    assert body["rows"][3]["patient_id"] == existing["id"]
    c = body["counts"]
    assert (c["rows"], c["inserted"], c["updated"], c["unchanged"], c["duplicates"], c["quarantined"]) == (7, 2, 1, 0, 2, 2)
    assert body["reconciled"] is True
    ledger = api_env.scalar("SELECT row_to_json(f)::text FROM patient_pipeline.import_file f WHERE file_id = :f",
                            f=body["file_id"])
    ledger = json.loads(ledger)
    assert (ledger["source_kind"], ledger["status"], ledger["rows_read"], ledger["inserted"]) == ("api", "done", 7, 2)
    # one ledger entry for the whole call
    assert api_env.scalar("SELECT count(*) FROM patient_pipeline.import_file WHERE dag_run_id = :r",
                          r=ledger["dag_run_id"]) == 1


def test_bulk_accepts_ndjson(server, api_env):
    t = uid()
    body = "\n".join(json.dumps(person(f"{t}{i}")) for i in range(3)) + "\n"
    r = server.client.post("/api/patients/bulk", content=body.encode(),
                           headers=api_env.headers(**{"content-type": "application/x-ndjson"}))
    assert r.status_code == 200 and r.json()["counts"]["inserted"] == 3


def test_a_resent_bulk_matches_and_an_idempotent_retry_writes_nothing(server, api_env):
    t = uid()
    rows = [person(f"{t}{i}") for i in range(20)]
    key = f"idem-{t}"
    first = server.client.post("/api/patients/bulk", json=rows, headers=api_env.headers(**{"Idempotency-Key": key}))
    assert first.status_code == 200 and first.json()["counts"]["inserted"] == 20
    files = api_env.scalar("SELECT count(*) FROM patient_pipeline.import_file")
    retry = server.client.post("/api/patients/bulk", json=rows, headers=api_env.headers(**{"Idempotency-Key": key}))
    assert retry.status_code == 200 and retry.headers["Idempotent-Replayed"] == "true"
    assert {k: v for k, v in retry.json().items() if k != "idempotent_replay"} == {
        k: v for k, v in first.json().items() if k != "idempotent_replay"}
    assert api_env.scalar("SELECT count(*) FROM patient_pipeline.import_file") == files  # nothing written again
    other = server.client.post("/api/patients/bulk", json=rows[:5], headers=api_env.headers(**{"Idempotency-Key": key}))
    assert other.status_code == 422 and other.json()["code"] == "idempotency_key_reused"
    # without the key, the same rows again are matched, never duplicated
    resent = server.client.post("/api/patients/bulk", json=rows, headers=api_env.headers())
    assert resent.json()["counts"]["unchanged"] == 20 and resent.json()["counts"]["inserted"] == 0
    assert api_env.scalar("SELECT count(*) FROM patients WHERE external_id LIKE :p", p=f"MRN-{t}%") == 20


def test_a_failing_bulk_writes_nothing(server, api_env):
    t = uid()
    with api_env.engine.begin() as conn:  # a server-side failure in the middle of the merge
        conn.execute(sa.text(
            "CREATE OR REPLACE FUNCTION test_fail_insert() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN "
            "IF NEW.external_id = 'MRN-boom' THEN RAISE EXCEPTION 'boom'; END IF; RETURN NEW; END $$"))
        conn.execute(sa.text("CREATE TRIGGER test_fail BEFORE INSERT ON patients FOR EACH ROW "
                             "EXECUTE FUNCTION test_fail_insert()"))
    try:
        rows = [person(f"{t}{i}") for i in range(5)] + [person("boom") | {"external_id": "MRN-boom"}]
        r = server.client.post("/api/patients/bulk", json=rows, headers=api_env.headers())
        assert r.status_code == 500 and r.json()["code"] == "delivery_failed" and "boom" not in r.text
    finally:
        with api_env.engine.begin() as conn:
            conn.execute(sa.text("DROP TRIGGER test_fail ON patients"))
    assert api_env.scalar("SELECT count(*) FROM patients WHERE external_id LIKE :p", p=f"MRN-{t}%") == 0
    row = api_env.scalar("SELECT status || ':' || reason_code FROM patient_pipeline.import_file "
                         "ORDER BY file_id DESC LIMIT 1")
    assert row == "rejected:delivery_failed"
    assert api_env.scalar("SELECT count(*) FROM patient_pipeline.import_staging") == 0


def test_get_one_patient_and_list_with_filters(server, api_env):
    t = uid()
    rows = [person(f"{t}{i}", last_name=f"Zed{t}{i}") for i in range(5)]
    server.client.post("/api/patients/bulk", json=rows, headers=api_env.headers())
    page = server.client.get("/api/patients", params={"last_name": f"zed{t}", "limit": 2}, headers=api_env.headers())
    assert page.status_code == 200
    first = page.json()
    assert len(first["items"]) == 2 and first["next"]
    seen = [p["id"] for p in first["items"]]
    cursor = first["next"]
    while cursor:
        nxt = server.client.get("/api/patients", params={"last_name": f"zed{t}", "limit": 2, "cursor": cursor},
                                headers=api_env.headers()).json()
        seen += [p["id"] for p in nxt["items"]]
        cursor = nxt["next"]
    assert len(seen) == len(set(seen)) == 5
    by_email = server.client.get("/api/patients", params={"email": f"  P{t}3@Example.ORG"}, headers=api_env.headers())
    assert [p["external_id"] for p in by_email.json()["items"]] == [f"MRN-{t}3"]
    by_ext = server.client.get("/api/patients", params={"external_id": f"MRN-{t}1"}, headers=api_env.headers()).json()
    assert len(by_ext["items"]) == 1
    one = server.client.get(f"/api/patients/{by_ext['items'][0]['id']}", headers=api_env.headers())
    assert one.status_code == 200 and one.json()["external_id"] == f"MRN-{t}1"
    assert server.client.get("/api/patients/no-such-id", headers=api_env.headers()).status_code == 404
    pending = server.client.get("/api/patients", params={"status": "pending", "last_name": f"zed{t}"},
                                headers=api_env.headers()).json()
    assert len(pending["items"]) == 5
    active = server.client.get("/api/patients", params={"status": "active", "last_name": f"zed{t}"},
                               headers=api_env.headers()).json()
    assert active["items"] == [] and active["next"] is None
    late = server.client.get("/api/patients", params={"created_since": "2999-01-01T00:00:00Z"}, headers=api_env.headers())
    assert late.json()["items"] == []
    since = server.client.get("/api/patients", params={"updated_since": "2000-01-01T00:00:00+02:00",
                                                       "last_name": f"zed{t}"}, headers=api_env.headers())
    assert len(since.json()["items"]) == 5
    assert server.client.get("/api/patients", params={"limit": 501}, headers=api_env.headers()).status_code == 422
    bad = server.client.get("/api/patients", params={"cursor": "garbage!"}, headers=api_env.headers())
    assert bad.status_code == 422 and bad.json()["code"] == "invalid_cursor"
    bad = server.client.get("/api/patients", params={"email": "nope@"}, headers=api_env.headers())
    assert bad.status_code == 422 and bad.json()["code"] == "invalid_email"
    wild = server.client.get("/api/patients", params={"last_name": "%"}, headers=api_env.headers())
    assert wild.json()["items"] == []  # a wildcard is a literal character, not "everything"


def test_every_call_has_an_audit_row_with_ids_and_counts_only(server, api_env):
    before = len(audit_rows(api_env, api_env.key_ids["a"]))
    t = uid()
    created = server.client.post("/api/patients", json=person(t), headers=api_env.headers()).json()
    server.client.get(f"/api/patients/{created['id']}", headers=api_env.headers())
    server.client.get("/api/patients", params={"email": f"p{t}@example.org"}, headers=api_env.headers())
    server.client.get("/api/patients/nope", headers=api_env.headers())
    rows = audit_rows(api_env, api_env.key_ids["a"])[before:]
    assert [(r.method, r.route, r.status) for r in rows] == [
        ("POST", "/api/patients", 201), ("GET", "/api/patients/{patient_id}", 200),
        ("GET", "/api/patients", 200), ("GET", "/api/patients/{patient_id}", 404)]
    assert all(r.account_id == ACCT_A for r in rows)
    assert [r.patient_ids for r in rows[:3]] == [[created["id"]]] * 3
    assert rows[0].counts == {"rows": 1, "inserted": 1} and rows[0].file_id is not None
    assert rows[2].counts == {"returned": 1}
    dump = " ".join(str(tuple(r)) for r in rows)
    assert f"p{t}@example.org" not in dump and f"Fn{t}" not in dump
