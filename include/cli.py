"""Operator commands (no PHI in any output):

    python -m include.cli db-info          which app database is in use, its revision and table sizes
    python -m include.cli verify-legacy    compare the live legacy schema with DATA-MODEL.md §1
    python -m include.cli stamp-baseline   verify, then `alembic stamp 20250526_legacy_baseline` (production)
    python -m include.cli db-stop          stop the embedded PostgreSQL
    python -m include.cli steward ...      stewardship: review decisions, worklists, replay, undo an import
                                           (`python -m include.cli steward --help`)
"""

from __future__ import annotations

import argparse
import sys

import sqlalchemy as sa

from include import catalog, db, embedded_db, legacy_contract, migration_driver, settings


def table_summary(conn: sa.Connection) -> list[tuple[str, int]]:
    """(table, row count) for every application table (estimates are not used: counts are exact)."""
    return list(catalog.row_counts(conn, catalog.table_names(conn)).items())


def print_db_info(conn: sa.Connection) -> None:
    rev = migration_driver.current_revision(conn)
    version = conn.execute(sa.text("SHOW server_version")).scalar()
    print(f"PostgreSQL {version}; alembic revision: {rev or '(unversioned)'}")
    for table, rows in table_summary(conn):
        print(f"  {table:<20} {rows:>10} rows")
    conn.commit()


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["steward"]:
        from include.stewardship import cli as steward_cli

        return steward_cli.main(argv[1:])
    parser = argparse.ArgumentParser(prog="python -m include.cli", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("command", choices=["db-info", "verify-legacy", "stamp-baseline", "db-stop", "steward"])
    args = parser.parse_args(argv)

    if args.command == "db-stop":
        stopped = embedded_db.stop()
        print("embedded PostgreSQL stopped" if stopped else "embedded PostgreSQL was not running")
        return 0

    app = db.resolve_app_database()
    print(f"app database: {app.describe()}")
    with db.app_engine(app.uri).connect() as conn:
        if args.command == "db-info":
            print_db_info(conn)
            return 0
        found = legacy_contract.differences(conn)
        conn.commit()
        if found:
            print("legacy schema does NOT match DATA-MODEL.md §1:")
            for line in found:
                print(f"  - {line}")
            return 1
        print("legacy schema matches DATA-MODEL.md §1")
        if args.command == "stamp-baseline":
            current = migration_driver.current_revision(conn)
            if current is not None:
                print(f"already versioned at {current}; not stamping")
                return 1
            migration_driver.stamp(conn, settings.REV_BASELINE)
            print(f"stamped at {settings.REV_BASELINE}")
        return 0


if __name__ == "__main__":
    sys.exit(main())
