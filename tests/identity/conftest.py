"""Fixtures of the matcher's tests: a database at 20250529_update_patients with the pipeline schema and two
accounts, and a helper that writes hand-made patients (with their identifiers per namespace)."""

from __future__ import annotations

from pathlib import Path

import pytest
import sqlalchemy as sa

from include.core import alembic_driver, pipeline_schema, settings
from include.identity.config import MatcherSettings

ACCOUNT = "acct-identity"
OTHER = "acct-identity-other"


@pytest.fixture
def identity_db(engine: sa.Engine, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> sa.Engine:
    with engine.connect() as conn:
        alembic_driver.upgrade(conn, settings.REV_UPDATE_PATIENTS)
        pipeline_schema.ensure(conn)
    with engine.begin() as conn:
        for acct in (ACCOUNT, OTHER):
            conn.execute(sa.text("INSERT INTO accounts (id, name) VALUES (:i, :i)"), {"i": acct})
    monkeypatch.setattr(settings, "RUNS_DIR", tmp_path / "runs")
    return engine


@pytest.fixture
def cfg(tmp_path: Path) -> MatcherSettings:
    return MatcherSettings(memory_mb=512, threads=1, work_root=tmp_path / "match-work")


def add_patients(engine: sa.Engine, rows: list[dict], account: str = ACCOUNT) -> None:
    """rows: id, first, last, dob, email, phone, ids [(namespace, value)], updated (timestamp text)."""
    with engine.begin() as conn:
        for r in rows:
            conn.execute(sa.text(
                "INSERT INTO patients (id, account_id, email, first_name, last_name, phone, date_of_birth, status, "
                "created_at, updated_at) VALUES (:id, :a, :email, :first, :last, :phone, :dob, 'pending', "
                "CAST(:updated AS timestamp), CAST(:updated AS timestamp))"),
                {"a": account, "email": None, "phone": None, "dob": None, "updated": "2025-01-01 00:00:00", **{
                    k: v for k, v in r.items() if k != "ids"}})
            for ns, value in r.get("ids", []):
                conn.execute(sa.text(
                    "INSERT INTO patient_pipeline.patient_identifier (account_id, namespace, value, patient_id, origin) "
                    "VALUES (:a, :n, :v, :p, 'test')"), {"a": account, "n": ns, "v": value, "p": r["id"]})


def queue(engine: sa.Engine, kind: str = "probable_duplicate") -> list[dict]:
    with engine.connect() as conn:
        return [dict(r) for r in conn.execute(sa.text(
            "SELECT * FROM patient_pipeline.review_queue WHERE kind = :k ORDER BY item_id"), {"k": kind}).mappings()]
