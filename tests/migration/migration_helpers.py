"""Shared data and catalog probes for the migration tests. The legacy rows are invented (no real
person); they only need to be legacy-shaped: opaque non-UUID ids, role strings in either case, NULL
statuses and names, jsonb metadata."""

from __future__ import annotations

from dataclasses import dataclass

import sqlalchemy as sa

from include.core import alembic_driver, catalog, settings

LEGACY_ROWS_SQL = (
    """INSERT INTO accounts (id, name, domain, status, created_at, updated_at) VALUES
       ('acct-1', 'North Clinic', 'north.example', 'active', '2024-01-02 03:04:05', '2024-01-02 03:04:05'),
       ('acct-2', 'South Clinic', 'north.example', NULL, '2024-02-01 00:00:00', '2024-02-01 00:00:00')""",
    """INSERT INTO users (id, name, email, role, hashed_password, account_id, clinician_id, is_active,
                          created_at, updated_at) VALUES
       ('clinician-001', 'Dr. Ada Example', 'ada@north.example', 'clinician', 'x', 'acct-1', NULL, true,
        '2024-01-03 00:00:00', '2024-01-03 00:00:00'),
       ('u-pat-1', 'Bea Sample', 'Bea@Mail.example', 'PATIENT', NULL, 'acct-1', 'clinician-001', true,
        '2024-03-01 10:00:00', '2024-03-01 10:00:00'),
       ('u-pat-2', 'Cy Sample', 'cy@mail.example', 'patient', NULL, NULL, 'clinician-001', false,
        '2024-03-02 10:00:00', '2024-03-05 10:00:00')""",
    """INSERT INTO patient_profiles (id, user_id, date_of_birth, gender, phone_number, address,
                                     created_at, updated_at) VALUES
       ('pp-1', 'u-pat-1', '1980-05-06 00:00:00', 'F', '(555) 010-0001', '1 Test Way',
        '2024-03-01 10:00:00', '2024-03-01 10:00:00')""",
    """INSERT INTO invites (id, email, first_name, last_name, phone, invite_token, clinician_id, user_id,
                            status, custom_message, session_metadata, created_at, updated_at, expires_at,
                            accepted_at) VALUES
       ('inv-1', ' bea@mail.example ', 'Bea', 'Sample', '5550100001', 'tok-1', 'clinician-001', NULL,
        'ACCEPTED', 'welcome', '{"source": "web", "n": 1}', '2024-02-27 09:00:00', '2024-03-01 10:00:00',
        '2024-03-27 09:00:00', '2024-03-01 10:00:00'),
       ('inv-2', 'cy@mail.example', NULL, NULL, NULL, 'tok-2', 'clinician-001', NULL,
        NULL, NULL, NULL, '2024-02-28 09:00:00', '2024-02-28 09:00:00', NULL, NULL),
       ('inv-3', 'cy@mail.example', 'Cy', 'Sample', NULL, 'tok-2', 'clinician-001', 'u-pat-2',
        'completed', NULL, '[]', '2024-03-01 09:00:00', '2024-03-02 10:00:00', NULL, '2024-03-02 10:00:00')""",
    """INSERT INTO chat_sessions (id, user_id, clinician_id, session_type, status, session_metadata,
                                  created_at, updated_at, completed_at) VALUES
       ('cs-1', 'u-pat-1', 'clinician-001', 'intake', 'completed', '{"k": "v"}',
        '2024-03-03 00:00:00', '2024-03-03 01:00:00', '2024-03-03 01:00:00'),
       ('cs-2', 'u-pat-2', NULL, NULL, NULL, NULL, '2024-03-04 00:00:00', '2024-03-04 00:00:00', NULL)""",
    """INSERT INTO chat_messages (id, session_id, role, content, created_at) VALUES
       ('cm-1', 'cs-1', 'assistant', 'Hello', '2024-03-03 00:00:01'),
       ('cm-2', 'cs-1', 'user', 'Hi; it''s me', '2024-03-03 00:00:02'),
       ('cm-3', 'cs-2', 'assistant', 'Hello again', '2024-03-04 00:00:01')""",
)

#: What the tests write when they play the backfill's part: one patient per person, every invite
#: and chat session linked (finalize needs every invite linked).
LINK_ROWS_SQL = (
    """INSERT INTO patients (id, account_id, clinician_id, email, first_name, last_name, status) VALUES
       ('pat-1', 'acct-1', 'clinician-001', 'bea@mail.example', 'Bea', 'Sample', 'active'),
       ('pat-2', 'acct-1', 'clinician-001', 'cy@mail.example', 'Cy', 'Sample', 'active')""",
    "UPDATE invites SET patient_id = CASE WHEN id = 'inv-1' THEN 'pat-1' ELSE 'pat-2' END",
    "UPDATE chat_sessions SET patient_id = CASE WHEN user_id = 'u-pat-1' THEN 'pat-1' ELSE 'pat-2' END",
)

#: Strings of the hand-written rows that would be PHI in production: never in a message.
PHI_SAMPLES = ("bea@mail.example", "cy@mail.example", "Bea", "Sample", "5550100001", "1980-05-06")


def run_sql(conn: sa.Connection, statements: tuple[str, ...] | list[str]) -> None:
    for statement in statements:
        conn.execute(sa.text(statement))
    conn.commit()


@dataclass(frozen=True)
class Constraint:
    table: str
    name: str
    type: str  # p, f, u, c
    definition: str
    validated: bool


@dataclass(frozen=True)
class Index:
    table: str
    name: str
    definition: str
    valid: bool


def constraints(conn: sa.Connection) -> dict[str, Constraint]:
    snap = catalog.snapshot(conn)
    conn.commit()
    return {c[1]: Constraint(*c) for c in snap.constraints}


def indexes(conn: sa.Connection) -> dict[str, Index]:
    snap = catalog.snapshot(conn)
    conn.commit()
    return {i[1]: Index(*i) for i in snap.indexes}


def columns(conn: sa.Connection, table: str) -> dict[str, tuple[str, bool, str | None]]:
    """column -> (type, not_null, default)."""
    snap = catalog.snapshot(conn, [table])
    conn.commit()
    return {c: (ty, nn, default) for _, c, ty, nn, default in snap.columns}


def revision(conn: sa.Connection) -> str | None:
    return alembic_driver.current_revision(conn)


def at(conn: sa.Connection, target: str) -> None:
    """Walk the runbook up to ``target`` (no linking: stops before finalize)."""
    for rev in settings.ALL_REVISIONS[: settings.ALL_REVISIONS.index(target) + 1]:
        alembic_driver.upgrade(conn, rev)
