"""Stewardship's set-based SQL (``include/sql/stewardship/*.sql``), loaded once per name."""

from __future__ import annotations

from functools import cache

import sqlalchemy as sa

from include.core import settings

SQL_DIR = settings.SQL_DIR / "stewardship"


@cache
def statement(name: str) -> sa.TextClause:
    """The file without its comment lines (they document it; the bind parser must not read them)."""
    text = (SQL_DIR / f"{name}.sql").read_text()
    return sa.text("\n".join(line for line in text.splitlines() if not line.lstrip().startswith("--")))


def run(conn: sa.Connection, name: str, **params: object) -> sa.CursorResult:
    return conn.execute(statement(name), params)
