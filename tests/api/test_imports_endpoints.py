"""CSV uploads: landed in the account's upload source with their SHA-256, registered in the ledger, the
same bytes twice recognised, clinic_patient_import triggered through a (stub) Airflow REST API or left to
the next run, imported by the real pipeline and reported by the status endpoint."""

from __future__ import annotations

import io
import json
import stat
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from include.core import settings
from include.imports import file_import
from include.imports.sources import load_sources
from tests.api.conftest import free_port, start_server

HEADER = b"email,first_name,last_name,phone,external_id,date_of_birth\n"


def csv_bytes(tag: str, n: int = 3) -> bytes:
    rows = b"".join(b"u%d%s@example.org,Up%d,Load%s,,UP-%s-%d,1970-01-0%d\n" % (i, tag.encode(), i, tag.encode(),
                                                                                   tag.encode(), i, i + 1)
                    for i in range(n))
    return HEADER + rows + b",NoEmail,Person,,,\n"  # one row without an identifier: quarantined


def upload(srv, env, data: bytes, who: str = "a"):
    return srv.client.post("/api/patients/import-csv", files={"file": ("patients.csv", io.BytesIO(data), "text/csv")},
                           headers=env.headers(who))


def test_an_upload_lands_registers_and_is_imported_by_the_pipeline(server, api_env, monkeypatch):
    data = csv_bytes("a")
    r = upload(server, api_env, data)
    assert r.status_code == 202, r.text
    body = r.json()
    assert (body["source_id"], body["status"], body["duplicate"], body["import_run"]) == (
        "upload-acct-clinic-north", "registered", False, "next_scheduled_run")
    assert "next" in body["message"] and body["status_url"].endswith(f"/api/patients/imports/{body['file_id']}")
    landed = list((api_env.landing_root / "upload-acct-clinic-north" / "incoming").glob("upload-*.csv"))
    assert len(landed) == 1 and landed[0].read_bytes() == data
    assert stat.S_IMODE(landed[0].stat().st_mode) == 0o600
    import hashlib
    assert body["sha256"] == hashlib.sha256(data).hexdigest()

    again = upload(server, api_env, data)
    assert again.status_code == 200 and again.json()["file_id"] == body["file_id"] and again.json()["duplicate"]
    assert len(list(landed[0].parent.iterdir())) == 1  # nothing landed twice

    status = server.client.get(body["status_url"], headers=api_env.headers()).json()
    assert (status["status"], status["source_kind"], status["rows_read"]) == ("registered", "file", None)

    # the nightly import (the DAG's task body) takes it: same ledger row, resumed
    monkeypatch.setattr(settings, "RUNS_DIR", api_env.runs_dir)
    source = load_sources()["upload-acct-clinic-north"]
    (found,) = file_import.discover_files([source.id], str(api_env.landing_root))
    result = file_import.import_file(api_env.engine, source, found["path"], run_id="night-1")
    assert (result.file_id, result.status, result.inserted, result.quarantined) == (body["file_id"], "done", 3, 1)
    status = server.client.get(body["status_url"], headers=api_env.headers()).json()
    assert (status["status"], status["rows_read"], status["inserted"], status["quarantined"], status["reconciled"]) == (
        "done", 4, 3, 1, True)
    assert status["quarantined_by_reason"] == {"missing_identifier": 1}
    # a done upload uploaded again is still recognised
    assert upload(server, api_env, data).json() == {**again.json(), "status": "done"}


def test_an_account_without_an_upload_source_is_told_what_to_configure(server, api_env):
    r = upload(server, api_env, csv_bytes("b"), who="b")
    assert r.status_code == 409 and r.json()["code"] == "upload_source_not_configured"
    assert "clinic_sources.yaml" in r.json()["detail"]
    r = server.client.post("/api/patients/import-csv", files={"file": ("e.csv", io.BytesIO(b""), "text/csv")},
                           headers=api_env.headers())
    assert r.status_code == 422 and r.json()["code"] == "empty_file"


class StubAirflow(BaseHTTPRequestHandler):
    calls: list[tuple[str, dict, str | None]] = []

    def do_POST(self) -> None:  # noqa: N802
        body = json.loads(self.rfile.read(int(self.headers["content-length"])))
        StubAirflow.calls.append((self.path, body, self.headers.get("authorization")))
        if self.path == "/auth/token":
            answer = {"access_token": "jwt-for-test"} if body == {"username": "api", "password": "s3cret"} else None
        else:
            answer = {"dag_run_id": body["dag_run_id"], "state": "queued"}
        self.send_response(201 if answer else 401)
        self.send_header("content-type", "application/json")
        self.end_headers()
        self.wfile.write(json.dumps(answer or {"detail": "no"}).encode())

    def log_message(self, *args) -> None:
        pass


@pytest.fixture
def stub_airflow():
    port = free_port()
    httpd = ThreadingHTTPServer(("127.0.0.1", port), StubAirflow)
    StubAirflow.calls = []
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{port}"
    httpd.shutdown()


def test_an_upload_triggers_the_import_through_airflows_rest_api_when_configured(api_env, stub_airflow, tmp_path: Path):
    with start_server(api_env, tmp_path / "server.log", GENASCOPE_AIRFLOW_API_URL=stub_airflow,
                      GENASCOPE_AIRFLOW_API_USERNAME="api", GENASCOPE_AIRFLOW_API_PASSWORD="s3cret") as srv:
        r = upload(srv, api_env, csv_bytes("c"))
        log = srv.log()
    assert r.status_code == 202 and r.json()["import_run"] == "triggered"
    file_id = r.json()["file_id"]
    assert r.json()["dag_run_id"] == f"api_upload__{file_id}"
    (token_call, run_call) = StubAirflow.calls
    assert token_call[0] == "/auth/token"
    path, body, auth = run_call
    assert path == "/api/v2/dags/clinic_patient_import/dagRuns" and auth == "Bearer jwt-for-test"
    assert body["conf"] == {"source_ids": ["upload-acct-clinic-north"], "landing_root": str(api_env.landing_root),
                            "dry_run": False}
    assert "s3cret" not in log and "jwt-for-test" not in log


def test_a_failed_trigger_still_lands_the_file_for_the_next_run(api_env, stub_airflow, tmp_path: Path):
    with start_server(api_env, tmp_path / "server.log", GENASCOPE_AIRFLOW_API_URL=stub_airflow,
                      GENASCOPE_AIRFLOW_API_USERNAME="api", GENASCOPE_AIRFLOW_API_PASSWORD="wrong") as srv:
        r = upload(srv, api_env, csv_bytes("d"))
    assert r.status_code == 202 and r.json()["import_run"] == "next_scheduled_run"
    assert "trigger failed" in r.json()["message"]
