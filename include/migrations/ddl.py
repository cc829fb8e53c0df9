"""Lock-safe DDL steps shared by the revisions.

Each step is one PostgreSQL statement in its lock-safe form. Steps that commit part of a revision
(those in an autocommit block) can be interrupted; when a retry meets the part that already
committed, the step says so in the log and continues, and an interrupted ``CREATE INDEX
CONCURRENTLY`` leaves an INVALID index that is dropped and rebuilt. Offline (``--sql``) every step
prints its plain statement.
"""

from __future__ import annotations

import logging

from alembic import op

log = logging.getLogger("alembic.genascope")


def _offline() -> bool:
    return op.get_context().as_sql


def _scalar(sql: str, **params: object) -> object:
    import sqlalchemy as sa

    return op.get_bind().execute(sa.text(sql), params).scalar()


def column_exists(table: str, column: str) -> bool:
    return bool(_scalar(
        "SELECT 1 FROM information_schema.columns WHERE table_schema = current_schema() "
        "AND table_name = :t AND column_name = :c", t=table, c=column))


def constraint_state(table: str, name: str) -> str | None:
    """'valid', 'not_valid' or None when the constraint does not exist."""
    validated = _scalar(
        "SELECT convalidated FROM pg_constraint WHERE conrelid = to_regclass(:t) AND conname = :n",
        t=table, n=name)
    if validated is None:
        return None
    return "valid" if validated else "not_valid"


def index_state(name: str) -> str | None:
    """'valid', 'invalid' or None when the index does not exist."""
    valid = _scalar("SELECT indisvalid FROM pg_index WHERE indexrelid = to_regclass(:n)", n=name)
    if valid is None:
        return None
    return "valid" if valid else "invalid"


def add_column(table: str, column_sql: str, column: str) -> None:
    """ADD COLUMN of a nullable column without a default: a catalog-only change (brief lock)."""
    if not _offline() and column_exists(table, column):
        log.info("%s.%s already present (an earlier attempt committed it)", table, column)
        return
    op.execute(f"ALTER TABLE {table} ADD COLUMN {column_sql}")


def add_foreign_key_not_valid(table: str, name: str, column: str, ref_table: str, ref_column: str,
                              on_delete: str) -> None:
    """FK added NOT VALID: no scan of existing rows while the brief lock is held."""
    if not _offline() and constraint_state(table, name) is not None:
        log.info("constraint %s already present (an earlier attempt committed it)", name)
        return
    op.execute(
        f"ALTER TABLE {table} ADD CONSTRAINT {name} FOREIGN KEY ({column}) "
        f"REFERENCES {ref_table} ({ref_column}) ON DELETE {on_delete} NOT VALID"
    )


def validate_constraint(table: str, name: str) -> None:
    """VALIDATE scans under SHARE UPDATE EXCLUSIVE: reads and writes go on meanwhile."""
    if not _offline() and constraint_state(table, name) == "valid":
        log.info("constraint %s already validated", name)
        return
    op.execute(f"ALTER TABLE {table} VALIDATE CONSTRAINT {name}")


def create_index_concurrently(name: str, table: str, columns_sql: str, *, unique: bool = False,
                              where: str | None = None) -> None:
    """Must run inside ``op.get_context().autocommit_block()``."""
    if not _offline():
        state = index_state(name)
        if state == "valid":
            log.info("index %s already built", name)
            return
        if state == "invalid":
            log.warning("index %s is INVALID (an interrupted concurrent build); dropping and rebuilding", name)
            op.execute(f"DROP INDEX CONCURRENTLY {name}")
    kind = "UNIQUE INDEX" if unique else "INDEX"
    predicate = f" WHERE {where}" if where else ""
    op.execute(f"CREATE {kind} CONCURRENTLY {name} ON {table} ({columns_sql}){predicate}")


def drop_index_concurrently(name: str) -> None:
    """Must run inside ``op.get_context().autocommit_block()``."""
    if not _offline() and index_state(name) is None:
        log.info("index %s already dropped", name)
        return
    op.execute(f"DROP INDEX CONCURRENTLY {name}")


def drop_constraint(table: str, name: str) -> None:
    if not _offline() and constraint_state(table, name) is None:
        log.info("constraint %s already dropped", name)
        return
    op.execute(f"ALTER TABLE {table} DROP CONSTRAINT {name}")


def drop_column(table: str, column: str) -> None:
    if not _offline() and not column_exists(table, column):
        log.info("%s.%s already dropped", table, column)
        return
    op.execute(f"ALTER TABLE {table} DROP COLUMN {column}")


def add_check_not_valid(table: str, name: str, expression: str) -> None:
    """CHECK ... NOT VALID: a brief lock, no scan."""
    if not _offline() and constraint_state(table, name) is not None:
        log.info("constraint %s already present (an earlier attempt committed it)", name)
        return
    op.execute(f"ALTER TABLE {table} ADD CONSTRAINT {name} CHECK ({expression}) NOT VALID")


def add_unique_using_index(table: str, name: str, index: str) -> None:
    """Attach a unique index built CONCURRENTLY as a constraint: catalog-only, no scan."""
    if not _offline() and constraint_state(table, name) is not None:
        log.info("constraint %s already present", name)
        return
    op.execute(f"ALTER TABLE {table} ADD CONSTRAINT {name} UNIQUE USING INDEX {index}")
