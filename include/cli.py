"""Operator commands (no PHI in any output). Installed, the same commands are ``genascope …``
(the package's console script), e.g. ``genascope sources validate clinic_sources.yaml``.

    python -m include.cli db-info          which app database is in use, its revision and table sizes
    python -m include.cli verify-legacy    compare the live legacy schema with docs/contracts/data-model.md §1
    python -m include.cli stamp-baseline   verify, then `alembic stamp 20250526_legacy_baseline` (production)
    python -m include.cli db-stop          stop the embedded PostgreSQL
    python -m include.cli embedded-uri     start the embedded PostgreSQL, print its app database's URI (for
                                           AIRFLOW_CONN_GENASCOPE_DB: `make airflow` hands it to the tasks)
    python -m include.cli create-pipeline-role [--role genascope_pipeline] [--transfer-ownership genascope_owner]
                                           the least-privilege login role of the DAGs (run as a DBA; the
                                           password comes from $GENASCOPE_PIPELINE_PASSWORD, hashed here)
    python -m include.cli steward ...      stewardship: review decisions, worklists, replay, undo an import
                                           (`python -m include.cli steward --help`)
    python -m include.cli api-key create --account A --name N [--admin]
                                           a key of the intake API for account A (printed once)
    python -m include.cli api-key list     every key: id, account, name, admin, created, revoked, last used
    python -m include.cli api-key revoke ID
    python -m include.cli sources validate [FILE]
                                           validate a clinic sources document (a path or an object-storage
                                           URI; default: the configured one), naming each broken key's path
    python -m include.cli sources schema   print the sources document's JSON Schema
    python -m include.cli identity match --account ID [--full|--incremental]
                                           the probabilistic matcher on demand (`... identity --help`)
"""

from __future__ import annotations

import argparse
import os
import sys

import sqlalchemy as sa

from include.core import alembic_driver, catalog, db, embedded_db, legacy_contract, settings


def table_summary(conn: sa.Connection) -> list[tuple[str, int]]:
    """(table, row count) for every application table (estimates are not used: counts are exact)."""
    return list(catalog.row_counts(conn, catalog.table_names(conn)).items())


def print_db_info(conn: sa.Connection) -> None:
    rev = alembic_driver.current_revision(conn)
    version = conn.execute(sa.text("SHOW server_version")).scalar()
    print(f"PostgreSQL {version}; alembic revision: {rev or '(unversioned)'}")
    for table, rows in table_summary(conn):
        print(f"  {table:<20} {rows:>10} rows")
    conn.commit()


def api_key_main(argv: list[str]) -> int:
    """``api-key create|list|revoke``: the intake API's keys (include/api/keys.py); only the new key is secret."""
    from include.api import keys
    from include.core import pipeline_schema

    parser = argparse.ArgumentParser(prog="python -m include.cli api-key")
    sub = parser.add_subparsers(dest="action", required=True)
    create = sub.add_parser("create", help="create a key for one account (printed once)")
    create.add_argument("--account", required=True)
    create.add_argument("--name", required=True, help="who or what uses the key")
    create.add_argument("--admin", action="store_true", help="the key may name other accounts (say so on purpose)")
    sub.add_parser("list", help="list keys (never the secrets)")
    revoke = sub.add_parser("revoke", help="revoke a key by id")
    revoke.add_argument("key_id")
    args = parser.parse_args(argv)
    app = db.resolve_app_database()
    print(f"app database: {app.describe()}", file=sys.stderr)
    with db.app_engine(app.uri).connect() as conn:
        pipeline_schema.ensure(conn)
        try:
            if args.action == "create":
                new = keys.create(conn, args.account, args.name, admin=args.admin)
                scope = "ADMIN key (may name any account)" if new.key.is_admin else f"account {new.key.account_id}"
                print(f"created API key {new.key.key_id} for {scope}; it is shown once, store it now:",
                      file=sys.stderr)
                print(new.token)
            elif args.action == "list":
                print(f"{'key id':<14}{'account':<24}{'admin':<7}{'created (UTC)':<21}{'revoked (UTC)':<21}"
                      f"{'last used (UTC)':<21}name")
                for k in keys.list_keys(conn):
                    print(f"{k.key_id:<14}{k.account_id:<24}{'yes' if k.is_admin else 'no':<7}"
                          f"{k.created_at:%Y-%m-%d %H:%M:%S}  {_when(k.revoked_at):<21}{_when(k.last_used_at):<21}"
                          f"{k.name}")
            else:
                k = keys.revoke(conn, args.key_id)
                print(f"revoked API key {k.key_id} (account {k.account_id}) at {k.revoked_at:%Y-%m-%d %H:%M:%S} UTC")
        except keys.UnknownApiKey as exc:
            print(str(exc), file=sys.stderr)
            return 1
    return 0


def sources_main(argv: list[str]) -> int:
    """``sources validate [FILE]`` / ``sources schema``: the clinic sources document (include/imports/sources.py)."""
    import json

    from include.imports import sources

    parser = argparse.ArgumentParser(prog="genascope sources")
    sub = parser.add_subparsers(dest="action", required=True)
    validate = sub.add_parser("validate", help="validate a clinic sources document; exit 1 naming each broken key")
    validate.add_argument("file", nargs="?", default=None,
                          help="a path or an object-storage URI (default: the configured location)")
    sub.add_parser("schema", help="print the JSON Schema of the clinic sources document")
    args = parser.parse_args(argv)
    if args.action == "schema":
        print(json.dumps(sources.json_schema(), indent=2))
        return 0
    location = sources.sources_location(args.file)
    try:
        doc = sources.load_document(args.file)
    except sources.SourceConfigError as exc:
        print(f"clinic sources at {location} are NOT valid:", file=sys.stderr)
        for line in str(exc).splitlines():
            print(f"  - {line}", file=sys.stderr)
        return 1
    ids = ", ".join(s.id for s in doc.sources)
    print(f"clinic sources at {location} are valid: {len(doc.sources)} source(s) ({ids}); "
          f"landing roots: {', '.join(doc.landing_roots)}")
    return 0


def _when(value: object) -> str:
    return f"{value:%Y-%m-%d %H:%M:%S}" if value is not None else "-"


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["api-key"]:
        return api_key_main(argv[1:])
    if argv[:1] == ["sources"]:
        return sources_main(argv[1:])
    if argv[:1] == ["identity"]:
        from include.identity import cli as identity_cli

        return identity_cli.main(argv[1:])
    if argv[:1] == ["steward"]:
        from include.stewardship import cli as steward_cli

        return steward_cli.main(argv[1:])
    parser = argparse.ArgumentParser(prog="python -m include.cli", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("command", choices=["db-info", "verify-legacy", "stamp-baseline", "db-stop",
                                            "create-pipeline-role", "embedded-uri", "steward", "api-key",
                                            "sources", "identity"])
    parser.add_argument("--role", default="genascope_pipeline", help="create-pipeline-role: the login role")
    parser.add_argument("--owner-role", default=None,
                        help="create-pipeline-role: the NOLOGIN role owning the application's tables "
                             "(default: the owner of invites)")
    parser.add_argument("--transfer-ownership", metavar="OWNER_ROLE", default=None,
                        help="create-pipeline-role: first move the application's tables to this NOLOGIN role")
    parser.add_argument("--password-env", default="GENASCOPE_PIPELINE_PASSWORD",
                        help="create-pipeline-role: environment variable holding the role's password")
    args = parser.parse_args(argv)

    if args.command == "db-stop":
        stopped = embedded_db.stop()
        print("embedded PostgreSQL stopped" if stopped else "embedded PostgreSQL was not running")
        return 0

    if args.command == "embedded-uri":
        print(db.embedded_connection_uri())
        return 0

    app = db.resolve_app_database()
    print(f"app database: {app.describe()}")
    if args.command == "create-pipeline-role":
        from include.core import pipeline_role

        made = pipeline_role.create_pipeline_role(
            app.uri, role=args.role, owner_role=args.owner_role, transfer_to=args.transfer_ownership,
            password=os.environ.get(args.password_env) or None)
        print(f"role {made.role} ready in database {made.database}: member of {made.owner_role} "
              f"({made.transferred_tables} relations moved to it), grants of include/sql/security/pipeline_role.sql"
              + ("" if os.environ.get(args.password_env) else f"; no password set (${args.password_env} is empty)"))
        print(f"recommended (as a superuser): ALTER ROLE {made.role} SET log_error_verbosity = terse;")
        return 0
    with db.app_engine(app.uri).connect() as conn:
        if args.command == "db-info":
            print_db_info(conn)
            return 0
        found = legacy_contract.differences(conn)
        conn.commit()
        if found:
            print("legacy schema does NOT match docs/contracts/data-model.md §1:")
            for line in found:
                print(f"  - {line}")
            return 1
        print("legacy schema matches docs/contracts/data-model.md §1")
        if args.command == "stamp-baseline":
            current = alembic_driver.current_revision(conn)
            if current is not None:
                print(f"already versioned at {current}; not stamping")
                return 1
            alembic_driver.stamp(conn, settings.REV_BASELINE)
            print(f"stamped at {settings.REV_BASELINE}")
        return 0


if __name__ == "__main__":
    sys.exit(main())
