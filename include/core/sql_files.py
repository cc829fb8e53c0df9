"""The one loader of the set-based SQL files (``include/sql/<area>/<name>.sql``).

A file is read on its first use and kept for the life of the process, so a running task never mixes an
old and an edited version of a file (deploy, then restart, to pick up an edit). The comment lines
(``--`` at the start of a line) document the file and are removed before the statement runs: neither
SQLAlchemy's ``:name`` bind parser nor psycopg's ``%``/``{}`` placeholders must read the apostrophes and
colons in them. ``keep_comments=True`` returns the file as written (the pipeline's DDL, whose function
bodies are stored in the database as written).
"""

from __future__ import annotations

from functools import cache
from pathlib import Path
from typing import Any

import sqlalchemy as sa

from include.core import settings


def path(area: str, name: str) -> Path:
    """Where ``include/sql/<area>/<name>.sql`` is."""
    return settings.SQL_DIR / area / f"{name}.sql"


@cache
def text(area: str, name: str, *, keep_comments: bool = False) -> str:
    """The file's text (read once per process), without its comment lines unless ``keep_comments``."""
    body = path(area, name).read_text(encoding="utf-8")
    if keep_comments:
        return body
    return "\n".join(line for line in body.splitlines() if not line.lstrip().startswith("--"))


@cache
def statement(area: str, name: str) -> sa.TextClause:
    """The file as a SQLAlchemy ``text()`` with ``:name`` parameters."""
    return sa.text(text(area, name))


def run(conn: sa.Connection, area: str, name: str, **params: Any) -> sa.CursorResult:
    """Execute one file with named parameters on ``conn``."""
    return conn.execute(statement(area, name), params)


__all__ = ["path", "run", "statement", "text"]
