"""Real PostgreSQL for every test: the embedded server always, and the server at
GENASCOPE_TEST_DATABASE_URL too when it is set. Each test database is created and dropped here."""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import uuid
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest
import sqlalchemy as sa

from include.core import alembic_driver, db, embedded_db, settings

PROJECT_ROOT = Path(__file__).resolve().parent.parent

# Airflow for tests: its own SQLite metadata DB per xdist worker, this project's DAGs, no examples.
# Set before anything imports airflow.
_worker = os.environ.get("PYTEST_XDIST_WORKER", "main")
# Always our own home (the Makefile exports AIRFLOW_HOME for `make airflow`; tests must not share it,
# and two xdist workers must not share one SQLite metadata DB).
os.environ["AIRFLOW_HOME"] = str(PROJECT_ROOT / ".airflow" / f"test-{_worker}")
os.environ["AIRFLOW__DATABASE__SQL_ALCHEMY_CONN"] = f"sqlite:///{PROJECT_ROOT / '.airflow' / f'test-{_worker}' / 'airflow.db'}"
os.environ["AIRFLOW__CORE__DAGS_FOLDER"] = str(PROJECT_ROOT / "dags")
os.environ["AIRFLOW__CORE__PLUGINS_FOLDER"] = str(PROJECT_ROOT / "plugins")
os.environ["AIRFLOW__CORE__LOAD_EXAMPLES"] = "False"
# No Deadline Alert on the import under dag.test(): Airflow 3.3.2's dag.test() cannot finish a successful run
# of a DAG that has one (tests/notify parses the DAG with it and runs its callback through Airflow's trigger).
os.environ.setdefault("GENASCOPE_IMPORT_DEADLINE_HOURS", "0")
os.environ.setdefault("GX_ANALYTICS_ENABLED", "False")
os.environ["PYTHONPATH"] = os.pathsep.join(filter(None, [str(PROJECT_ROOT), os.environ.get("PYTHONPATH")]))

# The landing roots tests may point the import at: the project's landing/ and the temp folders pytest's
# tmp_path lives in (the bundled YAML allows only landing/). Tests of the allow-list set their own.
os.environ.setdefault("GENASCOPE_LANDING_ROOTS", ",".join([str(PROJECT_ROOT / "landing"), tempfile.gettempdir()]))

EXTERNAL_URL = os.environ.get("GENASCOPE_TEST_DATABASE_URL", "").strip()
SERVERS = ["embedded"] + (["external"] if EXTERNAL_URL else [])


def server_admin_uri(server: str) -> str:
    if server == "external":
        return db.to_libpq_uri(EXTERNAL_URL)
    return embedded_db.start_server(settings.EMBEDDED_PGDATA)


def create_database(admin_uri: str, prefix: str = "gs_test") -> str:
    name = f"{prefix}_{uuid.uuid4().hex[:10]}"
    with psycopg.connect(admin_uri, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    return db.with_database(admin_uri, name)


def drop_database(admin_uri: str, uri: str) -> None:
    name = db.database_name(uri)
    db._engine_for.cache_clear()
    with psycopg.connect(admin_uri, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture(params=SERVERS, scope="session")
def pg_server(request) -> str:
    """Admin URI of one PostgreSQL server (parametrized: embedded, external)."""
    return server_admin_uri(request.param)


@pytest.fixture
def fresh_db(pg_server: str) -> Iterator[str]:
    """URI of a new, empty database; dropped after the test."""
    uri = create_database(pg_server)
    try:
        yield uri
    finally:
        drop_database(pg_server, uri)


@pytest.fixture
def app_env(fresh_db: str, monkeypatch: pytest.MonkeyPatch) -> str:
    """Point the project's app-DB resolution at the test database (as AIRFLOW_CONN_GENASCOPE_DB)."""
    monkeypatch.setenv(db.ENV_CONN, fresh_db)
    return fresh_db


@pytest.fixture
def engine(fresh_db: str) -> Iterator[sa.Engine]:
    eng = db.create_engine(fresh_db)
    try:
        yield eng
    finally:
        eng.dispose()


@pytest.fixture
def legacy_engine(engine: sa.Engine) -> sa.Engine:
    """A database at 20250526_legacy_baseline (empty legacy tables)."""
    with engine.connect() as conn:
        alembic_driver.upgrade(conn, settings.REV_BASELINE)
    return engine


@pytest.fixture(scope="session")
def airflow_home() -> Path:
    """A migrated Airflow metadata DB (SQLite) with airflow_settings.yaml applied; once per worker."""
    home = Path(os.environ["AIRFLOW_HOME"])
    home.mkdir(parents=True, exist_ok=True)
    marker = home / ".migrated"
    if not marker.exists():
        subprocess.run([sys.executable, "-m", "airflow", "db", "migrate"], check=True,
                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        marker.touch()
    from include.tools import airflow_settings

    airflow_settings.apply()
    return home


@pytest.fixture(scope="session")
def s3_server():
    """An S3-compatible server (moto) on 127.0.0.1 with a bucket ``genascope-test``; this process's AWS
    environment points at it for the session (s3fs reads it), restored afterwards."""
    from include.distributed import moto_s3

    server = moto_s3.start()
    saved = {k: os.environ.get(k) for k in server.env()}
    os.environ.update(server.env())
    try:
        server.create_bucket("genascope-test")
        yield server
    finally:
        server.stop()
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v
