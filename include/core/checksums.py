"""Row counts and order-independent checksums of the legacy tables' original columns.

Computed inside PostgreSQL (no rows leave the server): the sum of a 64-bit slice of each row's md5
plus the count, so the result is independent of physical order and of columns the upgrades add.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import sqlalchemy as sa

from include.core import legacy_contract


@dataclass(frozen=True)
class TableChecksum:
    table: str
    rows: int
    checksum: str

    def as_dict(self) -> dict[str, object]:
        return asdict(self)


def checksum_sql(table: str) -> str:
    cols = ", ".join(legacy_contract.original_columns(table))
    # md5 over the row's text form of the original columns only; summed as numeric to avoid overflow.
    return (
        f"SELECT count(*) AS n, coalesce(sum(('x' || substr(md5(ROW({cols})::text), 1, 15))::bit(60)::bigint"
        f"::numeric), 0)::text AS s FROM {table}"
    )


#: Legacy tables the migration writes link columns into: they get per-row hashes (see include.core.run_records).
LINKED_TABLES = ("invites", "chat_sessions")


def row_hash_expr(table: str, alias: str = "t") -> str:
    """md5 of one row's original columns (the same text form the table checksum uses)."""
    cols = ", ".join(f"{alias}.{c}" for c in legacy_contract.original_columns(table))
    return f"md5(ROW({cols})::text)"


def legacy_checksums(conn: sa.Connection) -> dict[str, TableChecksum]:
    out: dict[str, TableChecksum] = {}
    for table in legacy_contract.LEGACY_COLUMNS:
        n, s = conn.execute(sa.text(checksum_sql(table))).one()
        out[table] = TableChecksum(table, int(n), s)
    return out


def compare(before: dict[str, TableChecksum], after: dict[str, TableChecksum]) -> list[str]:
    """Tables whose count or checksum changed (empty: unchanged)."""
    return [
        f"{t}: rows {before[t].rows} -> {after[t].rows}, checksum {'same' if before[t].checksum == after[t].checksum else 'changed'}"
        for t in before
        if t not in after or before[t] != after[t]
    ]
