"""Dry runs before the schema exists: a read-only stand-in for the columns the upgrades would add.

A dry run applies no DDL to application tables, yet the plan reads ``invites.patient_id``,
``chat_sessions.patient_id`` and ``patients`` (with ``user_id``). When the database is still below
``20250529_update_patients``, :func:`shadow_search_path` (re)creates views in the pipeline's own
schema ``patient_pipeline_shadow`` that show each missing column as NULL and a missing ``patients``
as an empty table of the target shape; the plan then runs with that schema first on its
``search_path``. The views only read the live tables (ACCESS SHARE locks, like any SELECT).
"""

from __future__ import annotations

import sqlalchemy as sa

SHADOW = "patient_pipeline_shadow"

PATIENTS_SHAPE = """
    id varchar(36), account_id varchar(36), clinician_id varchar(36), external_id varchar(255),
    email varchar(255), first_name varchar(100), last_name varchar(100), phone varchar(20),
    date_of_birth date, status varchar(20), notes text, created_at timestamp without time zone,
    updated_at timestamp without time zone, user_id varchar(36)
"""


def _has_column(conn: sa.Connection, table: str, column: str) -> bool:
    return bool(conn.execute(sa.text(
        "SELECT 1 FROM information_schema.columns WHERE table_schema = 'public' AND table_name = :t "
        "AND column_name = :c"), {"t": table, "c": column}).first())


def _has_table(conn: sa.Connection, table: str) -> bool:
    return conn.execute(sa.text("SELECT to_regclass(:t)"), {"t": f"public.{table}"}).scalar() is not None


def shadow_search_path(conn: sa.Connection) -> str | None:
    """None when the live schema already has every column the plan reads; else build the stand-ins
    and return the search_path to plan with."""
    need_invites = not _has_column(conn, "invites", "patient_id")
    need_chats = not _has_column(conn, "chat_sessions", "patient_id")
    has_patients = _has_table(conn, "patients")
    need_patients = not has_patients or not _has_column(conn, "patients", "user_id")
    if not (need_invites or need_chats or need_patients):
        conn.commit()
        return None
    conn.exec_driver_sql(f"DROP SCHEMA IF EXISTS {SHADOW} CASCADE")
    conn.exec_driver_sql(f"CREATE SCHEMA {SHADOW}")
    if need_invites:
        conn.exec_driver_sql(
            # ctid: the plan reads the heap in slices and records each row's block (its walk order);
            # a view has no system columns, so it passes the table's on under the same name
            f"CREATE VIEW {SHADOW}.invites AS SELECT i.*, NULL::varchar(36) AS patient_id, i.ctid AS ctid "
            "FROM public.invites i")
    if need_chats:
        conn.exec_driver_sql(
            f"CREATE VIEW {SHADOW}.chat_sessions AS "
            "SELECT c.*, NULL::varchar(36) AS patient_id, c.ctid AS ctid FROM public.chat_sessions c")
    if not has_patients:
        conn.exec_driver_sql(f"CREATE TABLE {SHADOW}.patients ({PATIENTS_SHAPE})")
    elif need_patients:
        conn.exec_driver_sql(
            f"CREATE VIEW {SHADOW}.patients AS SELECT p.*, NULL::varchar(36) AS user_id FROM public.patients p")
    conn.commit()
    return f"{SHADOW}, public"
