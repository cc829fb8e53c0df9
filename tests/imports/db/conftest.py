"""Fixtures for the import's database tests: a database at 20250529_update_patients with the sample
clinics' accounts, sources pointing at temporary landing folders, and helpers to stage hand-made files."""

from __future__ import annotations

import shutil
from collections.abc import Callable
from datetime import date
from pathlib import Path

import pytest
import sqlalchemy as sa

from include.core import alembic_driver, pipeline_schema, settings
from include.imports.sources import SourceConfig, load_sources

TODAY = date(2025, 6, 2)
SAMPLE_CLINICS = settings.INCLUDE_DIR / "sample_data" / "clinics"
CSV_HEADER = "email,first_name,last_name,phone,external_id,date_of_birth\n"


def create_accounts(engine: sa.Engine, account_ids: list[str]) -> None:
    with engine.begin() as conn:
        for acct in account_ids:
            conn.execute(sa.text("INSERT INTO accounts (id, name) VALUES (:i, :n) ON CONFLICT DO NOTHING"),
                         {"i": acct, "n": f"Clinic {acct}"})


@pytest.fixture
def import_db(engine: sa.Engine, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> sa.Engine:
    """A database at 20250529_update_patients, with the pipeline schema and the sample accounts."""
    with engine.connect() as conn:
        alembic_driver.upgrade(conn, settings.REV_UPDATE_PATIENTS)
        pipeline_schema.ensure(conn)
    create_accounts(engine, sorted({s.account_id for s in load_sources().values()}))
    monkeypatch.setattr(settings, "RUNS_DIR", tmp_path / "runs")
    return engine


@pytest.fixture
def csv_source(tmp_path: Path) -> SourceConfig:
    """A CSV source with the platform's documented header, landing in a temp folder."""
    landing = tmp_path / "landing" / "clinic-test"
    (landing / "incoming").mkdir(parents=True)
    north = load_sources()["clinic-north-csv"]
    return north.with_overrides(id="clinic-test-csv", landing=str(landing), column_mapping=None,
                                date_formats=("%Y-%m-%d",), max_reject_ratio=0.5)


@pytest.fixture
def drop_csv(csv_source: SourceConfig) -> Callable[..., str]:
    """Write a CSV delivery into the test source's incoming/ and return its path."""

    def write(name: str, rows: list[str], header: str = CSV_HEADER) -> str:
        path = Path(csv_source.incoming()) / name
        path.write_text(header + "".join(r + "\n" for r in rows), encoding="utf-8")
        return str(path)

    return write


@pytest.fixture
def sample_landing(tmp_path: Path) -> Path:
    """A copy of the sample clinics' landing folders (tests never move the repository's files)."""
    dest = tmp_path / "clinics"
    shutil.copytree(SAMPLE_CLINICS, dest)
    return dest


def patients(engine: sa.Engine, account_id: str) -> list[sa.Row]:
    with engine.connect() as conn:
        return conn.execute(sa.text(
            "SELECT id, external_id, email, first_name, last_name, phone, date_of_birth, status FROM patients "
            "WHERE account_id = :a ORDER BY external_id NULLS LAST, email"), {"a": account_id}).all()


def scalar(engine: sa.Engine, sql: str, **params: object) -> object:
    with engine.connect() as conn:
        return conn.execute(sa.text(sql), params).scalar()
