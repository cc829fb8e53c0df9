"""The database side of retention: set-based statements of ``include/sql/housekeeping/`` (one transaction;
a dry run rolls it back, so its counts are exact)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime

import sqlalchemy as sa

from include.core import pipeline_schema, sql_files
from include.housekeeping.settings import RetentionSettings


def statement(name: str) -> sa.TextClause:
    return sql_files.statement("housekeeping", name)


@dataclass
class DatabaseSweep:
    removed: dict[str, int] = field(default_factory=dict)
    kept_needed: dict[str, int] = field(default_factory=dict)


def _naive_utc(ts: datetime) -> datetime:
    """The pipeline's timestamps are UTC without a zone."""
    return ts if ts.tzinfo is None else ts.astimezone(UTC).replace(tzinfo=None)


def sweep(engine: sa.Engine, retention: RetentionSettings, as_of: datetime, *, dry_run: bool) -> DatabaseSweep:
    out = DatabaseSweep()
    with engine.connect() as conn:
        pipeline_schema.ensure(conn)
        with conn.begin() as tx:
            q = conn.execute(statement("10_quarantine_raw_values"),
                             {"cutoff": _naive_utc(retention.cutoff("quarantine_raw_days", as_of))}).one()
            p = conn.execute(statement("20_previous_values"),
                             {"cutoff": _naive_utc(retention.cutoff("undo_window_days", as_of))}).one()
            i = conn.execute(statement("30_idempotency"),
                             {"cutoff": _naive_utc(retention.cutoff("idempotency_days", as_of))}).one()
            if dry_run:
                tx.rollback()
    out.removed = {"quarantine_raw_values": int(q.cleared), "previous_values": int(p.cleared),
                   "idempotency_rows": int(i.deleted)}
    out.kept_needed = {"quarantine_raw_values_open_rows": int(q.kept_open),
                       "previous_values_open_review": int(p.kept_open_review)}
    return out


def files_with_open_quarantine(engine: sa.Engine, file_ids: list[int]) -> set[int]:
    if not file_ids:
        return set()
    with engine.connect() as conn:
        pipeline_schema.ensure(conn)
        rows = conn.execute(statement("40_open_quarantine_files"), {"file_ids": sorted(set(file_ids))}).scalars()
        return {int(r) for r in rows}
