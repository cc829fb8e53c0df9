"""Fixtures of the backfill tests: a database at 20250529_update_patients, as the backfill finds it."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import sqlalchemy as sa

from include.core import alembic_driver, pipeline_schema, settings
from tests.backfill.legacy_rows import Legacy


@pytest.fixture
def app_db(engine: sa.Engine) -> sa.Engine:
    """A database at 20250529_update_patients (patients.user_id, nullable link columns) with the
    pipeline schema, as the backfill finds it."""
    with engine.connect() as conn:
        alembic_driver.upgrade(conn, settings.REV_UPDATE_PATIENTS)
        pipeline_schema.ensure(conn)
    return engine


@pytest.fixture
def conn(app_db: sa.Engine) -> Iterator[sa.Connection]:
    with app_db.connect() as c:
        yield c


@pytest.fixture
def legacy(conn: sa.Connection) -> Legacy:
    """Two accounts with one clinician each (clin-a in acct-a, clin-b in acct-b)."""
    lg = Legacy(conn)
    lg.account("acct-a")
    lg.account("acct-b")
    lg.clinician("clin-a", "acct-a")
    lg.clinician("clin-b", "acct-b")
    return lg


