"""The least-privilege database role of the pipeline: ``genascope_pipeline`` (docs/contracts/operations.md §5).

``include/sql/security/pipeline_role.sql`` holds the grants (and says why each is needed); this module
runs it as a DBA, optionally first moving the application's tables to a NOLOGIN owner role (the tables
of a database built by a superuser are owned by that superuser, and the pipeline must never be a
member of a superuser), and sets the role's password hashed on the client (SCRAM), so neither the
statement nor the server log holds it. CLI: ``python -m include.cli create-pipeline-role``.

Recommended for the role (a superuser-only setting, so the DBA sets it):
``ALTER ROLE genascope_pipeline SET log_error_verbosity = terse`` - the server log then records no
DETAIL line (which can quote a row) for the pipeline's failed statements.
"""

from __future__ import annotations

from dataclasses import dataclass

import psycopg
from psycopg import sql

from include.core import sql_files
from include.core.errors import GenascopeError

DEFAULT_ROLE = "genascope_pipeline"
DEFAULT_OWNER_ROLE = "genascope_owner"


class PipelineRoleError(GenascopeError, RuntimeError):
    """The role cannot be set up as asked; the message says what to change."""


@dataclass(frozen=True)
class PipelineRole:
    role: str
    owner_role: str
    database: str
    transferred_tables: int


def _owner_of_app_tables(conn: psycopg.Connection) -> tuple[str, bool]:
    row = conn.execute(
        "SELECT r.rolname, r.rolsuper FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
        "JOIN pg_roles r ON r.oid = c.relowner WHERE n.nspname = 'public' AND c.relname = 'invites'").fetchone()
    if row is None:
        raise PipelineRoleError("the database has no public.invites table: build or restore the application's "
                                "schema first (alembic upgrade 20250526_legacy_baseline), then create the role")
    return row[0], bool(row[1])


def transfer_ownership(conn: psycopg.Connection, owner_role: str) -> int:
    """Create the NOLOGIN ``owner_role`` if missing and give it every table, sequence and view of
    ``public`` (the application's schema, alembic_version included). Returns how many it moved."""
    conn.execute(sql.SQL(
        "DO $$ BEGIN IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = {name}) THEN "
        "CREATE ROLE {role} NOLOGIN; END IF; END $$").format(name=sql.Literal(owner_role),
                                                            role=sql.Identifier(owner_role)))
    rels = conn.execute(
        "SELECT c.relname, c.relkind FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
        "JOIN pg_roles r ON r.oid = c.relowner WHERE n.nspname = 'public' AND c.relkind IN ('r', 'p', 'v', 'S') "
        "AND r.rolname <> %s", (owner_role,)).fetchall()
    kinds = {"r": "TABLE", "p": "TABLE", "v": "VIEW", "S": "SEQUENCE"}
    for name, kind in rels:
        conn.execute(sql.SQL("ALTER {kind} public.{rel} OWNER TO {owner}").format(
            kind=sql.SQL(kinds[kind]), rel=sql.Identifier(name), owner=sql.Identifier(owner_role)))
    return len(rels)


def create_pipeline_role(admin_uri: str, *, role: str = DEFAULT_ROLE, owner_role: str | None = None,
                         transfer_to: str | None = None, password: str | None = None) -> PipelineRole:
    """Create (or update) ``role`` in the database at ``admin_uri`` with exactly the pipeline's grants.

    ``owner_role``: the role owning the application's tables (default: the owner of ``invites``).
    ``transfer_to``: first move the application's tables to this NOLOGIN role (needed when a superuser
    owns them). ``password``: set it (SCRAM, hashed here), else the role has none (peer/cert auth).
    """
    with psycopg.connect(admin_uri, autocommit=True) as conn:
        database = conn.execute("SELECT current_database()").fetchone()[0]
        moved = 0
        if transfer_to:
            moved = transfer_ownership(conn, transfer_to)
            owner_role = transfer_to
        if owner_role is None:
            owner_role, is_super = _owner_of_app_tables(conn)
            if is_super:
                raise PipelineRoleError(
                    f"the application's tables are owned by the superuser {owner_role!r}; the pipeline must not "
                    f"be a member of it. Move them to a NOLOGIN owner role first: --transfer-ownership "
                    f"{DEFAULT_OWNER_ROLE}")
        if owner_role == role:
            raise PipelineRoleError("the owner role must be a separate NOLOGIN role, not the pipeline role itself")
        super_owner = conn.execute("SELECT rolsuper FROM pg_roles WHERE rolname = %s", (owner_role,)).fetchone()
        if super_owner is None or super_owner[0]:
            raise PipelineRoleError(f"owner role {owner_role!r} does not exist or is a superuser")
        statements = sql.SQL(sql_files.text("security", "pipeline_role")).format(
            role=sql.Identifier(role), role_name=sql.Literal(role), owner_role=sql.Identifier(owner_role),
            database=sql.Identifier(database))
        conn.execute(statements)
        if password:
            verifier = conn.pgconn.encrypt_password(password.encode(), role.encode(), b"scram-sha-256")
            conn.execute(sql.SQL("ALTER ROLE {role} PASSWORD {verifier}").format(
                role=sql.Identifier(role), verifier=sql.Literal(verifier.decode())))
    return PipelineRole(role, owner_role, database, moved)


