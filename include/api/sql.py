"""The API's SQL files (``include/sql/api/<name>.sql``), read once, comment lines removed."""

from __future__ import annotations

from functools import cache

import sqlalchemy as sa

from include.core import settings


@cache
def text(name: str) -> sa.TextClause:
    body = (settings.SQL_DIR / "api" / f"{name}.sql").read_text()
    return sa.text("\n".join(line for line in body.splitlines() if not line.lstrip().startswith("--")))


def run(conn: sa.Connection, name: str, **params: object) -> sa.CursorResult:
    return conn.execute(text(name), params)
