"""The API's SQL files (``include/sql/api/<name>.sql``), read once, comment lines removed."""

from __future__ import annotations

import sqlalchemy as sa

from include.core import sql_files


def text(name: str) -> sa.TextClause:
    return sql_files.statement("api", name)


def run(conn: sa.Connection, name: str, **params: object) -> sa.CursorResult:
    return conn.execute(text(name), params)
