"""Fixtures for the migration tests: a baseline database holding a few hand-written legacy rows."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import sqlalchemy as sa
from migration_helpers import LEGACY_ROWS_SQL, run_sql


@pytest.fixture
def legacy_db(legacy_engine: sa.Engine) -> sa.Engine:
    """A database at 20250526_legacy_baseline holding the hand-written legacy rows."""
    with legacy_engine.connect() as conn:
        run_sql(conn, LEGACY_ROWS_SQL)
    return legacy_engine


@pytest.fixture
def legacy_conn(legacy_db: sa.Engine) -> Iterator[sa.Connection]:
    with legacy_db.connect() as conn:
        yield conn
