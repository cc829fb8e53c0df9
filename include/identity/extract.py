"""An account's patients out of PostgreSQL in bulk: one ``COPY (SELECT ...) TO STDOUT`` into an owner-only
CSV file in the run's working directory (DuckDB reads it), never row by row. Scored pairs go back the same
way: ``COPY identity_scored FROM STDIN``, then one set-based statement queues them."""

from __future__ import annotations

import os
from collections.abc import Iterable
from pathlib import Path

import psycopg
from psycopg import sql

from include.core import sql_files


def sql_file(name: str) -> str:
    """A file of include/sql/identity without its comment lines (include/core/sql_files.py)."""
    return sql_files.text("identity", name)


def extract_account(conn: psycopg.Connection, account_id: str, path: Path, *,
                    new_patient_ids: Iterable[str] | None = None) -> None:
    """Write the account's extract to ``path`` (0600). ``new_patient_ids``: the incremental pass's patients."""
    with conn.cursor() as cur:
        cur.execute("CREATE TEMP TABLE IF NOT EXISTS identity_new (patient_id text PRIMARY KEY) ON COMMIT DROP")
        cur.execute("TRUNCATE identity_new")
        if new_patient_ids is not None:
            with cur.copy("COPY identity_new (patient_id) FROM STDIN") as cp:
                for pid in dict.fromkeys(new_patient_ids):
                    cp.write_row((pid,))
        query = sql.SQL(sql_file("extract_patients")).format(
            account_id=sql.Literal(account_id), incremental=sql.Literal(new_patient_ids is not None))
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "wb") as out, cur.copy(
                sql.SQL("COPY ({}) TO STDOUT (FORMAT csv)").format(query)) as cp:
            for block in cp:
                out.write(block)


def load_scored(conn: psycopg.Connection, path: Path) -> None:
    """The scored pairs (CSV written by DuckDB) into the temp table ``identity_scored``."""
    with conn.cursor() as cur:
        cur.execute("CREATE TEMP TABLE IF NOT EXISTS identity_scored (patient_id text, candidate_patient_id text, "
                    "match_probability double precision, match_weight double precision, evidence text) "
                    "ON COMMIT DROP")
        cur.execute("TRUNCATE identity_scored")
        with open(path, "rb") as src, cur.copy("COPY identity_scored FROM STDIN (FORMAT csv, HEADER true)") as cp:
            while block := src.read(1 << 20):
                cp.write(block)
