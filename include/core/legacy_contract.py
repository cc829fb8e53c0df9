"""The legacy schema contract (docs/contracts/data-model.md §1) and a check of a live database against it.

Preflight runs this before anything touches a database, and ``python -m include.cli stamp-baseline``
runs it before stamping an existing production database at ``20250526_legacy_baseline``.
Only names, types and nullability are compared: rows are never read.
"""

from __future__ import annotations

import sqlalchemy as sa

from include.core import catalog
from include.core.errors import GenascopeError

TS = "timestamp without time zone"

#: table -> ordered (column, type, not_null)
LEGACY_COLUMNS: dict[str, tuple[tuple[str, str, bool], ...]] = {
    "accounts": (
        ("id", "character varying(36)", True), ("name", "character varying(255)", True),
        ("domain", "character varying(255)", False), ("status", "character varying(50)", False),
        ("created_at", TS, True), ("updated_at", TS, True),
    ),
    "users": (
        ("id", "character varying(36)", True), ("name", "character varying(255)", True),
        ("email", "character varying(255)", True), ("role", "character varying(32)", True),
        ("hashed_password", "character varying(255)", False), ("account_id", "character varying(36)", False),
        ("clinician_id", "character varying(36)", False), ("is_active", "boolean", True),
        ("created_at", TS, True), ("updated_at", TS, True),
    ),
    "patient_profiles": (
        ("id", "character varying(36)", True), ("user_id", "character varying(36)", True),
        ("date_of_birth", TS, False), ("gender", "character varying(32)", False),
        ("phone_number", "character varying(20)", False), ("address", "text", False),
        ("created_at", TS, True), ("updated_at", TS, True),
    ),
    "invites": (
        ("id", "character varying(36)", True), ("email", "character varying(255)", True),
        ("first_name", "character varying(100)", False), ("last_name", "character varying(100)", False),
        ("phone", "character varying(32)", False), ("invite_token", "character varying(64)", True),
        ("clinician_id", "character varying(36)", False), ("user_id", "character varying(36)", False),
        ("status", "character varying(32)", False), ("custom_message", "text", False),
        ("session_metadata", "jsonb", False), ("created_at", TS, True), ("updated_at", TS, True),
        ("expires_at", TS, False), ("accepted_at", TS, False),
    ),
    "chat_sessions": (
        ("id", "character varying(36)", True), ("user_id", "character varying(36)", True),
        ("clinician_id", "character varying(36)", False), ("session_type", "character varying(32)", False),
        ("status", "character varying(32)", False), ("session_metadata", "jsonb", False),
        ("created_at", TS, True), ("updated_at", TS, True), ("completed_at", TS, False),
    ),
    "chat_messages": (
        ("id", "character varying(36)", True), ("session_id", "character varying(36)", True),
        ("role", "character varying(20)", True), ("content", "text", True), ("created_at", TS, True),
    ),
}

#: Columns the upgrade revisions add to legacy tables (allowed, checked by the revision, not here).
ADDED_BY_UPGRADES = {("invites", "patient_id"), ("chat_sessions", "patient_id")}


class LegacySchemaMismatch(GenascopeError, RuntimeError):
    """The live legacy schema differs from docs/contracts/data-model.md §1."""

    def __init__(self, differences: list[str]):
        self.differences = differences
        super().__init__(
            "the live legacy schema does not match the contract (docs/contracts/data-model.md §1); nothing was changed. "
            "Differences:\n  - " + "\n  - ".join(differences)
        )


def original_columns(table: str) -> list[str]:
    return [c for c, _, _ in LEGACY_COLUMNS[table]]


def differences(conn: sa.Connection) -> list[str]:
    """Every way the live legacy tables differ from the contract (empty list: they match)."""
    snap = catalog.snapshot(conn, list(LEGACY_COLUMNS))
    live = {(t, c): (ty, nn) for t, c, ty, nn, _ in snap.columns}
    out: list[str] = []
    for table in LEGACY_COLUMNS:
        if table not in snap.tables:
            out.append(f"missing table {table}")
    for table, cols in LEGACY_COLUMNS.items():
        if table not in snap.tables:
            continue
        for column, ty, not_null in cols:
            got = live.get((table, column))
            if got is None:
                out.append(f"missing column {table}.{column} ({ty})")
                continue
            if got[0] != ty:
                out.append(f"{table}.{column}: type {got[0]}, expected {ty}")
            if got[1] != not_null:
                out.append(f"{table}.{column}: {'NOT NULL' if got[1] else 'nullable'}, expected "
                           f"{'NOT NULL' if not_null else 'nullable'}")
        known = {c for c, _, _ in cols}
        for (t, c) in live:
            if t == table and c not in known and (t, c) not in ADDED_BY_UPGRADES:
                out.append(f"unexpected column {t}.{c}")
    pkeys = {t for t, _, kind, definition, _ in snap.constraints if kind == "p" and definition == "PRIMARY KEY (id)"}
    for table in LEGACY_COLUMNS:
        if table in snap.tables and table not in pkeys:
            out.append(f"{table}: no PRIMARY KEY (id)")
    return out


def verify(conn: sa.Connection) -> None:
    """Raise :class:`LegacySchemaMismatch` listing every difference."""
    found = differences(conn)
    if found:
        raise LegacySchemaMismatch(found)
