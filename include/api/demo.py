"""The intake API's part of ``make demo``: start the API for a few seconds on the demo's database, create
a patient, a bulk of 1,000, list them, and show that the same bulk re-sent matches instead of duplicating.
Prints counts, ids and statuses only; the server's log goes to ``<demo log dir>/api-server.log``."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import sqlalchemy as sa

from include.api import keys
from include.core import db, pipeline_schema, private_files, settings

DEMO_ACCOUNT = "acct-clinic-north"
BULK_ROWS = 1000


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _rows(n: int) -> list[dict[str, str]]:
    return [{"external_id": f"API-DEMO-{i:05d}", "first_name": f"Demo{i:05d}", "last_name": "Intake",
             "email": f"api.demo.{i:05d}@example.org", "date_of_birth": "1980-01-01"} for i in range(n)]


def run(uri: str, log_dir: Path) -> None:
    engine = db.app_engine(uri)
    with engine.connect() as conn:
        pipeline_schema.ensure(conn)
        conn.execute(sa.text("INSERT INTO accounts (id, name, status) VALUES (:a, 'Sample clinic', 'active') "
                             "ON CONFLICT (id) DO NOTHING"), {"a": DEMO_ACCOUNT})
        conn.commit()
        new = keys.create(conn, DEMO_ACCOUNT, "make demo")
    print(f"$ python -m include.cli api-key create --account {DEMO_ACCOUNT} --name 'make demo'   "
          f"(key id {new.key.key_id}; the key itself is printed once by the CLI, not here)", flush=True)
    port = _free_port()
    log_path = log_dir / "api-server.log"
    env = {**os.environ, db.ENV_CONN: uri, "PYTHONPATH": str(settings.PROJECT_ROOT)}
    print(f"$ python -m include.api --port {port}   (uvicorn; OpenAPI docs at http://127.0.0.1:{port}/docs; "
          f"log: {log_path})", flush=True)
    with private_files.open_private(log_path, "wb") as out:  # owner-only, like every file of a run
        proc = subprocess.Popen([sys.executable, "-m", "include.api", "--port", str(port)], env=env,
                                cwd=settings.PROJECT_ROOT, stdout=out, stderr=subprocess.STDOUT)
        try:
            _calls(f"http://127.0.0.1:{port}", new.token, proc)
        finally:
            proc.terminate()
            proc.wait(timeout=30)
            with engine.connect() as conn:
                keys.revoke(conn, new.key.key_id)
    print(f"  API stopped; demo key {new.key.key_id} revoked", flush=True)


def _calls(base: str, token: str, proc: subprocess.Popen) -> None:
    headers = {"Authorization": f"Bearer {token}"}
    with httpx.Client(base_url=base, timeout=120, headers=headers) as client:
        deadline = time.monotonic() + 90
        while True:
            if proc.poll() is not None:
                raise SystemExit("the API server exited; see its log")
            try:
                if client.get("/openapi.json", timeout=2).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            if time.monotonic() > deadline:
                raise SystemExit("the API server did not start within 90 s; see its log")
            time.sleep(0.3)
        one = {"external_id": "API-DEMO-SINGLE", "first_name": "Single", "last_name": "Intake",
               "email": "api.demo.single@example.org"}
        r = client.post("/api/patients", json=one)
        print(f"  POST /api/patients -> {r.status_code} ({r.json().get('outcome')}, patient {r.json().get('id')})")
        rows = _rows(BULK_ROWS)
        t0 = time.monotonic()
        r = client.post("/api/patients/bulk", json=rows)
        first = r.json()["counts"]
        print(f"  POST /api/patients/bulk ({BULK_ROWS:,} rows) -> {r.status_code} in {time.monotonic() - t0:.2f}s: "
              + ", ".join(f"{k} {v}" for k, v in first.items()) + f" (ledger file {r.json()['file_id']})")
        listed, cursor, pages = 0, None, 0
        while True:
            params = {"last_name": "Intake", "limit": 500, **({"cursor": cursor} if cursor else {})}
            page = client.get("/api/patients", params=params).json()
            listed += len(page["items"])
            pages += 1
            cursor = page["next"]
            if not cursor:
                break
        print(f"  GET /api/patients?last_name=Intake -> {listed:,} patients in {pages} page(s)")
        r = client.post("/api/patients/bulk", json=rows)
        again = r.json()["counts"]
        print(f"  POST /api/patients/bulk (the same {BULK_ROWS:,} rows again) -> {r.status_code}: "
              + ", ".join(f"{k} {v}" for k, v in again.items()))
        verdict = "matched, no duplicate" if again["inserted"] == 0 and again["unchanged"] == BULK_ROWS else "UNEXPECTED"
        print(f"  re-sent bulk: {again['unchanged']:,} unchanged, {again['inserted']} inserted -> {verdict}")
        if verdict != "matched, no duplicate":
            raise SystemExit("the re-sent bulk did not match the first one")
