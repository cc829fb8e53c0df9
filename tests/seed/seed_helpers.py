"""Helpers of the seed tests: legacy test databases and a seeded-database handle."""

from __future__ import annotations

import uuid
from dataclasses import dataclass

import psycopg
import sqlalchemy as sa

from include.core import alembic_driver, db, settings
from include.seed import SeedSummary

SMALL_N = 400
MISSING_NAMES = 2


def new_legacy_database(admin_uri: str) -> str:
    """A new database at the legacy baseline (empty legacy tables), with the key-form functions
    (``patient_pipeline.email_key`` / ``key_form``) the assertions compare identities with."""
    name = f"gs_seed_{uuid.uuid4().hex[:10]}"
    with psycopg.connect(admin_uri, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    uri = db.with_database(admin_uri, name)
    engine = sa.create_engine(db.to_sqlalchemy_url(uri), poolclass=sa.pool.NullPool)
    with engine.connect() as conn:
        alembic_driver.upgrade(conn, settings.REV_BASELINE)
        for name in ("000_schema.sql", "020_key_form.sql"):
            conn.exec_driver_sql((settings.SQL_DIR / "pipeline" / name).read_text())
        conn.commit()
    engine.dispose()
    return uri


def drop(admin_uri: str, uri: str) -> None:
    name = db.database_name(uri)
    with psycopg.connect(admin_uri, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@dataclass
class Seeded:
    uri: str
    summary: SeedSummary

    def scalar(self, query: str) -> object:
        with psycopg.connect(self.uri) as conn:
            row = conn.execute(query).fetchone()
            return row[0] if row else None

    def column(self, query: str) -> list[object]:
        with psycopg.connect(self.uri) as conn:
            return [r[0] for r in conn.execute(query).fetchall()]
