"""Fixtures of the security tests: the DAGs parsed once, a database the pipeline reaches only as the
least-privilege role (with a password in its URL), and scans of what a run left behind."""

from __future__ import annotations

import os
import re
import shutil
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import quote, urlsplit, urlunsplit

import psycopg
import pytest
import sqlalchemy as sa

from include import seed as seeder
from include.core import alembic_driver, db, pipeline_role, settings
from include.imports.sources import load_sources
from tests.conftest import create_database, drop_database
from tests.imports.conftest import SAMPLE_CLINICS


@pytest.fixture(scope="module")
def dags(airflow_home) -> dict:
    from airflow.dag_processing.dagbag import DagBag

    bag = DagBag(dag_folder=str(settings.PROJECT_ROOT / "dags"))
    return {d: bag.dags[d] for d in ("patient_first_migration", "patient_first_rollback", "clinic_patient_import")}


def run_dag(dag, *, retries: int | None = None, **conf):
    """``dag.test()`` with every Param given (a Param set by one run stays on the DAG object in Airflow 3.3);
    ``retries=0`` makes a test of a failing step fail at once instead of waiting for the retry delays."""
    if retries is not None:
        for t in dag.tasks:
            t.retries = retries
    defaults = dag.params.dump()
    if "require_approval" in defaults:  # these tests are not about approvals (tests/dags/test_approvals.py is)
        defaults["require_approval"] = False
    return dag.test(run_conf={**defaults, **conf})


def with_login(uri: str, user: str, password: str) -> str:
    """``uri`` with another user and password (socket or TCP, as the admin URI is)."""
    parts = urlsplit(db.to_libpq_uri(uri))
    host = parts.netloc.rsplit("@", 1)[-1]
    netloc = f"{quote(user, safe='')}:{quote(password, safe='')}@{host}"
    return urlunsplit((parts.scheme, netloc, parts.path, parts.query, parts.fragment))


@dataclass
class RoleDatabase:
    admin_uri: str   # the database, as the DBA (tests prepare and read through it)
    uri: str         # the same database as the pipeline role, password in the URL
    role: str
    password: str
    runs: Path
    landing: Path


@pytest.fixture
def role_db(pg_server: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[RoleDatabase]:
    """A seeded legacy database (200 invites, the sample clinics' accounts) that the DAGs reach only as a
    fresh least-privilege pipeline role whose URL carries a password; runs root and landing in tmp_path."""
    admin_uri = create_database(pg_server)
    suffix = uuid.uuid4().hex[:8]
    role, owner = f"gs_pipeline_{suffix}", f"gs_owner_{suffix}"
    password = f"Pw{uuid.uuid4().hex}Secret"
    try:
        engine = db.create_engine(admin_uri, poolclass=sa.NullPool)
        with engine.connect() as conn:
            alembic_driver.upgrade(conn, settings.REV_BASELINE)
        seeder.generate(admin_uri, 200, 17)
        with engine.begin() as conn:
            for acct in sorted({s.account_id for s in load_sources().values()}):
                conn.execute(sa.text("INSERT INTO accounts (id, name) VALUES (:i, :i)"), {"i": acct})
        engine.dispose()
        pipeline_role.create_pipeline_role(admin_uri, role=role, transfer_to=owner, password=password)
        uri = with_login(admin_uri, role, password)
        monkeypatch.setenv(db.ENV_CONN, uri)
        runs = tmp_path / "runs"
        monkeypatch.setattr(settings, "RUNS_DIR", runs)
        landing = tmp_path / "landing"
        shutil.copytree(SAMPLE_CLINICS, landing)
        yield RoleDatabase(admin_uri, uri, role, password, runs, landing)
    finally:
        drop_database(pg_server, admin_uri)
        with psycopg.connect(pg_server, autocommit=True) as conn:
            for name in (role, owner):
                conn.execute(f'DROP ROLE IF EXISTS "{name}"')


def files_under(*roots: Path) -> list[Path]:
    return [p for root in roots if root.exists() for p in root.rglob("*") if p.is_file() or p.is_symlink()]


def text_of(*roots: Path) -> str:
    return "".join(p.read_text(errors="replace") for p in files_under(*roots) if p.is_file())


def airflow_logs(home: Path) -> str:
    logs = home / "logs"
    return text_of(logs) if logs.exists() else ""


def assert_sanitized_db_failure(logs: str, constraint: str) -> None:
    """The failing step logged the sanitized error (proof the failure happened and was captured)."""
    assert "SQLSTATE 23514" in logs and constraint in logs, "the forced violation did not reach the task log"
    assert "Failing row contains" not in logs and "[parameters:" not in logs
    assert not re.search(r"DETAIL:\s", logs)


def env_flag(name: str) -> bool:
    return os.environ.get(name, "") not in ("", "0")
