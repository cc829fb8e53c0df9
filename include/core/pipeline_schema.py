"""The pipeline's own bookkeeping schema (``patient_pipeline``): never an application table.

Every ``include/sql/pipeline/*.sql`` file is idempotent DDL (``CREATE ... IF NOT EXISTS``) for one
area's tables (backfill ledgers, import ledger, quarantine, review queue, archives, run reports).
They run in file-name order. The schema is not managed by alembic on purpose: it must survive a
rollback to the baseline.
"""

from __future__ import annotations

import sqlalchemy as sa

from include.core import settings, sql_files


def ddl_files() -> list:
    return sorted((settings.SQL_DIR / "pipeline").glob("*.sql"))


def ensure(conn: sa.Connection) -> None:
    """Create the schema and every bookkeeping table that is missing (safe to call at every task start)."""
    # Serialise concurrent first-time creation by several workers.
    conn.exec_driver_sql("SELECT pg_advisory_xact_lock(hashtext('patient_pipeline.ensure'))")
    for path in ddl_files():
        conn.exec_driver_sql(sql_files.text("pipeline", path.stem, keep_comments=True))
    conn.commit()
