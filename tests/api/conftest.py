"""The intake API under test: a real uvicorn server (``python -m include.api``) in a subprocess on a free
127.0.0.1 port, against a real database on each server (embedded, external), called with httpx.

``api_env`` (module scope) is a database at 20250529_update_patients with the pipeline schema, two
accounts, their keys (one per account, an admin key, a revoked key) and a landing root in a temp folder;
``start_server`` runs the API on it with extra settings and keeps its log (scanned for PHI).
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import pytest
import sqlalchemy as sa

from include.core import alembic_driver, db, pipeline_schema, settings
from tests.conftest import PROJECT_ROOT, create_database, drop_database

ACCT_A = "acct-clinic-north"  # has the upload source upload-acct-clinic-north
ACCT_B = "acct-api-other"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@dataclass
class ApiEnv:
    uri: str
    engine: sa.Engine
    keys: dict[str, str]  # a, b, admin, revoked -> bearer token
    key_ids: dict[str, str]
    landing_root: Path
    runs_dir: Path

    def headers(self, who: str = "a", **extra: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.keys[who]}", **extra}

    def scalar(self, sql: str, **params: object) -> object:
        with self.engine.connect() as conn:
            return conn.execute(sa.text(sql), params).scalar()


@dataclass
class Server:
    base_url: str
    log_path: Path
    proc: subprocess.Popen
    client: httpx.Client = field(init=False)

    def __post_init__(self) -> None:
        self.client = httpx.Client(base_url=self.base_url, timeout=120)

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")


def _make_env(pg_server: str, tmp: Path) -> tuple[ApiEnv, str]:
    from include.api import keys

    uri = create_database(pg_server, "gs_api")
    engine = sa.create_engine(db.to_sqlalchemy_url(uri))
    with engine.connect() as conn:
        alembic_driver.upgrade(conn, settings.REV_UPDATE_PATIENTS)
        pipeline_schema.ensure(conn)
    with engine.begin() as conn:
        for acct in (ACCT_A, ACCT_B):
            conn.execute(sa.text("INSERT INTO accounts (id, name) VALUES (:i, :n)"), {"i": acct, "n": f"Clinic {acct}"})
    tokens, ids = {}, {}
    with engine.connect() as conn:
        for who, acct, admin in (("a", ACCT_A, False), ("b", ACCT_B, False), ("admin", ACCT_B, True),
                                 ("revoked", ACCT_A, False)):
            new = keys.create(conn, acct, f"test {who}", admin=admin)
            tokens[who], ids[who] = new.token, new.key.key_id
        keys.revoke(conn, ids["revoked"])
    landing_root = tmp / "landing"
    landing_root.mkdir()
    return ApiEnv(uri, engine, tokens, ids, landing_root, tmp / "runs"), uri


@pytest.fixture(scope="module")
def api_env(pg_server: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[ApiEnv]:
    env, uri = _make_env(pg_server, tmp_path_factory.mktemp("api"))
    try:
        yield env
    finally:
        env.engine.dispose()
        drop_database(pg_server, uri)


@contextmanager
def start_server(env: ApiEnv, log_path: Path, *, server_args: tuple[str, ...] = (),
                 **settings_env: str) -> Iterator[Server]:
    port = free_port()
    proc_env = {**os.environ, db.ENV_CONN: env.uri, "PYTHONPATH": str(PROJECT_ROOT),
                "GENASCOPE_API_LANDING_ROOT": str(env.landing_root), "GENASCOPE_RUNS_DIR": str(env.runs_dir),
                "GENASCOPE_API_RATE_PER_MINUTE": "100000", "GENASCOPE_API_RATE_BURST": "100000", **settings_env}
    out = log_path.open("wb")
    proc = subprocess.Popen([sys.executable, "-m", "include.api", "--port", str(port), *server_args], env=proc_env,
                            cwd=PROJECT_ROOT, stdout=out, stderr=subprocess.STDOUT)
    server = Server(f"http://127.0.0.1:{port}", log_path, proc)
    try:
        deadline = time.monotonic() + 90
        while True:
            if proc.poll() is not None:
                raise RuntimeError(f"the API server exited ({proc.returncode}); see {log_path}")
            try:
                if server.client.get("/openapi.json", timeout=2).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            if time.monotonic() > deadline:
                raise RuntimeError(f"the API server did not start; see {log_path}")
            time.sleep(0.3)
        yield server
    finally:
        server.client.close()
        proc.terminate()
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        out.close()


@pytest.fixture(scope="module")
def server(api_env: ApiEnv, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    with start_server(api_env, tmp_path_factory.mktemp("api_log") / "server.log") as srv:
        yield srv


def audit_rows(env: ApiEnv, key: str | None) -> list[sa.Row]:
    with env.engine.connect() as conn:
        return conn.execute(sa.text(
            "SELECT key_id, account_id, method, route, status, patient_ids, counts, file_id "
            "FROM patient_pipeline.api_audit WHERE key_id IS NOT DISTINCT FROM :k ORDER BY audit_id"), {"k": key}).all()
