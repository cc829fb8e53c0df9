"""Snapshots of the live catalog (tables, columns, types, nullability, defaults, constraints, indexes).

Used to verify a production schema against the contract before stamping, to compare a downgraded
database with the baseline, and by preflight.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import sqlalchemy as sa

COLUMNS_SQL = """
SELECT c.relname AS table_name, a.attname AS column_name,
       format_type(a.atttypid, a.atttypmod) AS data_type, a.attnotnull AS not_null,
       pg_get_expr(d.adbin, d.adrelid) AS column_default
FROM pg_attribute a
JOIN pg_class c ON c.oid = a.attrelid
JOIN pg_namespace n ON n.oid = c.relnamespace
LEFT JOIN pg_attrdef d ON d.adrelid = a.attrelid AND d.adnum = a.attnum
WHERE n.nspname = current_schema() AND c.relkind IN ('r', 'p') AND a.attnum > 0 AND NOT a.attisdropped
  AND c.relname = ANY(:tables)
ORDER BY c.relname, a.attnum
"""

CONSTRAINTS_SQL = """
SELECT c.relname AS table_name, k.conname AS name, k.contype AS type,
       pg_get_constraintdef(k.oid) AS definition, k.convalidated AS validated
FROM pg_constraint k
JOIN pg_class c ON c.oid = k.conrelid
JOIN pg_namespace n ON n.oid = c.relnamespace
WHERE n.nspname = current_schema() AND c.relname = ANY(:tables) AND k.contype <> 'n'
ORDER BY c.relname, k.conname
"""

INDEXES_SQL = """
SELECT t.relname AS table_name, i.relname AS name, pg_get_indexdef(x.indexrelid) AS definition,
       x.indisvalid AS valid
FROM pg_index x
JOIN pg_class i ON i.oid = x.indexrelid
JOIN pg_class t ON t.oid = x.indrelid
JOIN pg_namespace n ON n.oid = t.relnamespace
WHERE n.nspname = current_schema() AND t.relname = ANY(:tables)
ORDER BY t.relname, i.relname
"""

TABLES_SQL = """
SELECT c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
WHERE n.nspname = current_schema() AND c.relkind IN ('r', 'p') AND c.relname <> 'alembic_version'
ORDER BY 1
"""


@dataclass(frozen=True)
class CatalogSnapshot:
    tables: tuple[str, ...]
    columns: tuple[tuple, ...] = field(default=())
    constraints: tuple[tuple, ...] = field(default=())
    indexes: tuple[tuple, ...] = field(default=())

    def diff(self, other: CatalogSnapshot) -> list[str]:
        """Human-readable differences, ``self`` being the expected side."""
        out: list[str] = []
        for label, mine, theirs in (
            ("table", self.tables, other.tables),
            ("column", self.columns, other.columns),
            ("constraint", self.constraints, other.constraints),
            ("index", self.indexes, other.indexes),
        ):
            for item in sorted(set(mine) - set(theirs), key=str):
                out.append(f"missing {label}: {item}")
            for item in sorted(set(theirs) - set(mine), key=str):
                out.append(f"unexpected {label}: {item}")
        return out


def table_names(conn: sa.Connection) -> list[str]:
    return list(conn.execute(sa.text(TABLES_SQL)).scalars())


def row_counts(conn: sa.Connection, tables: list[str] | tuple[str, ...]) -> dict[str, int]:
    """Exact row counts (count(*), no estimates) of ``tables``."""
    return {t: int(conn.execute(sa.text(f'SELECT count(*) FROM "{t}"')).scalar()) for t in tables}


def snapshot(conn: sa.Connection, tables: list[str] | tuple[str, ...] | None = None) -> CatalogSnapshot:
    names = list(tables) if tables is not None else table_names(conn)
    params = {"tables": names}
    present = tuple(sorted(set(table_names(conn)) & set(names)))
    columns = tuple(tuple(r) for r in conn.execute(sa.text(COLUMNS_SQL), params))
    constraints = tuple(tuple(r) for r in conn.execute(sa.text(CONSTRAINTS_SQL), params))
    indexes = tuple(tuple(r) for r in conn.execute(sa.text(INDEXES_SQL), params))
    return CatalogSnapshot(present, columns, constraints, indexes)
