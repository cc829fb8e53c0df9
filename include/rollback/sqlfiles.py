"""The rollback's SQL files (include/sql/rollback/*.sql), loaded once as SQLAlchemy text()."""

from __future__ import annotations

from functools import cache

import sqlalchemy as sa

from include.core import settings

SQL_DIR = settings.SQL_DIR / "rollback"


@cache
def statement(name: str) -> sa.TextClause:
    return sa.text((SQL_DIR / f"{name}.sql").read_text())
