"""Shared data and probes of the rollback tests. Every row is invented (no real person).

The "migrated" state is written by hand, as the brief asks (the backfill may not be ready): two
invite-derived patients linked from invites (and their users and chats), one imported patient with
an external id that the application later linked to a user and a chat session, and one imported
patient with no link at all.
"""

from __future__ import annotations

import sqlalchemy as sa

from include.core import alembic_driver, db, lease, run_records, settings
from include.rollback import steps

LEGACY_ROWS = (
    """INSERT INTO accounts (id, name, status, created_at, updated_at) VALUES
       ('acct-1', 'North Clinic', 'active', '2024-01-02 03:04:05', '2024-01-02 03:04:05'),
       ('acct-2', 'South Clinic', NULL, '2024-02-01 00:00:00', '2024-02-01 00:00:00')""",
    """INSERT INTO users (id, name, email, role, account_id, clinician_id, is_active, created_at, updated_at) VALUES
       ('clinician-001', 'Dr. Ada Example', 'ada@north.example', 'clinician', 'acct-1', NULL, true,
        '2024-01-03 00:00:00', '2024-01-03 00:00:00'),
       ('clinician-002', 'Dr. Bo Example', 'bo@south.example', 'clinician', 'acct-2', NULL, true,
        '2024-01-03 00:00:00', '2024-01-03 00:00:00'),
       ('u-pat-1', 'Bea Sample', 'Bea@Mail.example', 'PATIENT', 'acct-1', 'clinician-001', true,
        '2024-03-01 10:00:00', '2024-03-01 10:00:00'),
       ('u-pat-2', 'Cy Sample', 'cy@mail.example', 'patient', NULL, 'clinician-001', false,
        '2024-03-02 10:00:00', '2024-03-05 10:00:00'),
       ('u-imp-1', 'Dee Imported', 'dee@mail.example', 'patient', 'acct-1', 'clinician-001', true,
        '2024-03-09 10:00:00', '2024-03-09 10:00:00')""",
    """INSERT INTO invites (id, email, first_name, last_name, phone, invite_token, clinician_id, user_id, status,
                            session_metadata, created_at, updated_at, expires_at, accepted_at) VALUES
       ('inv-1', ' bea@mail.example ', 'Bea', 'Sample', '5550100001', 'tok-1', 'clinician-001', NULL, 'ACCEPTED',
        '{"source": "web"}', '2024-02-27 09:00:00', '2024-03-01 10:00:00', '2024-03-27 09:00:00',
        '2024-03-01 10:00:00'),
       ('inv-2', 'cy@mail.example', NULL, NULL, NULL, 'tok-2', 'clinician-001', NULL, NULL, NULL,
        '2024-02-28 09:00:00', '2024-02-28 09:00:00', NULL, NULL),
       ('inv-3', 'cy@mail.example', 'Cy', 'Sample', NULL, 'tok-3', 'clinician-001', 'u-pat-2', 'completed', '[]',
        '2024-03-01 09:00:00', '2024-03-02 10:00:00', NULL, '2024-03-02 10:00:00')""",
    """INSERT INTO chat_sessions (id, user_id, clinician_id, session_type, status, created_at, updated_at) VALUES
       ('cs-1', 'u-pat-1', 'clinician-001', 'intake', 'completed', '2024-03-03 00:00:00', '2024-03-03 01:00:00'),
       ('cs-2', 'u-pat-2', NULL, NULL, NULL, '2024-03-04 00:00:00', '2024-03-04 00:00:00'),
       ('cs-3', 'u-imp-1', 'clinician-001', 'followup', 'open', '2024-03-10 00:00:00', '2024-03-10 00:00:00')""",
    """INSERT INTO chat_messages (id, session_id, role, content, created_at) VALUES
       ('cm-1', 'cs-1', 'assistant', 'Hello', '2024-03-03 00:00:01'),
       ('cm-2', 'cs-3', 'user', 'Hi; it''s me', '2024-03-10 00:00:02')""",
)

#: What the migration would have written (hand-made): patients and every link.
MIGRATED_ROWS = (
    """INSERT INTO patients (id, account_id, clinician_id, email, first_name, last_name, status, user_id) VALUES
       ('pat-1', 'acct-1', 'clinician-001', 'bea@mail.example', 'Bea', 'Sample', 'active', 'u-pat-1'),
       ('pat-2', 'acct-1', 'clinician-001', 'cy@mail.example', 'Cy', 'Sample', 'active', 'u-pat-2')""",
    "UPDATE invites SET patient_id = CASE WHEN id = 'inv-1' THEN 'pat-1' ELSE 'pat-2' END",
    "UPDATE chat_sessions SET patient_id = CASE WHEN user_id = 'u-pat-1' THEN 'pat-1' ELSE 'pat-2' END "
    "WHERE user_id IN ('u-pat-1', 'u-pat-2')",
)

#: Patients a clinic import created after the switch (the backfill can never derive them).
IMPORTED_ROWS = (
    """INSERT INTO patients (id, account_id, clinician_id, external_id, email, first_name, last_name, phone,
                             date_of_birth, status, notes, user_id, created_at, updated_at) VALUES
       ('imp-1', 'acct-1', 'clinician-001', 'MRN-0001', 'dee@mail.example', 'Dee', 'Imported', '+15550100009',
        '1971-02-03', 'active', 'allergic to penicillin', 'u-imp-1', '2025-06-01 02:00:00.123456',
        '2025-06-02 08:30:00'),
       ('imp-2', 'acct-2', 'clinician-002', 'MRN-0002', NULL, 'Eli', 'Nolink', NULL, NULL, 'pending', NULL, NULL,
        '2025-06-01 02:00:01', '2025-06-01 02:00:01')""",
    "UPDATE chat_sessions SET patient_id = 'imp-1' WHERE id = 'cs-3'",
)

#: Strings of the rows that would be PHI in production: never in a log line or message.
PHI_SAMPLES = ("bea@mail.example", "cy@mail.example", "dee@mail.example", "Dee", "Imported", "penicillin",
               "5550100001", "+15550100009", "1971-02-03", "Nolink")

ORIGINAL_RUN = "migration-run-0"


def run_sql(conn: sa.Connection, statements: tuple[str, ...]) -> None:
    for statement in statements:
        conn.execute(sa.text(statement))
    conn.commit()


def build_migrated(conn: sa.Connection, *, imported: bool = True) -> None:
    """Baseline + legacy rows, the pre-migration checksums (as the migration's preflight takes them),
    every revision up to finalize with the hand-made patients and links."""
    alembic_driver.upgrade(conn, settings.REV_BASELINE)
    run_sql(conn, LEGACY_ROWS)
    run_records.record_checksums(conn, ORIGINAL_RUN, "before")
    alembic_driver.upgrade(conn, settings.REV_UPDATE_PATIENTS)
    run_sql(conn, MIGRATED_ROWS + (IMPORTED_ROWS if imported else ()))
    alembic_driver.upgrade(conn, settings.REV_FINALIZE_INVITES)


def patients(conn: sa.Connection) -> dict[str, dict]:
    """id -> the whole row (as jsonb), or {} when the table does not exist."""
    if conn.execute(sa.text("SELECT to_regclass('patients')")).scalar() is None:
        conn.commit()
        return {}
    rows = dict(conn.execute(sa.text("SELECT id, to_jsonb(p) FROM patients p")).all())
    conn.commit()
    return rows


def links(conn: sa.Connection) -> dict[str, dict[str, str]]:
    """entity -> {entity id -> patient id} for the link columns that exist."""
    live = {s: ok for s, ok in _live(conn).items()}
    out: dict[str, dict[str, str]] = {"invite": {}, "chat_session": {}, "user": {}}
    if live["invite"]:
        out["invite"] = dict(conn.execute(sa.text("SELECT id, patient_id FROM invites WHERE patient_id IS NOT NULL")).all())
        out["chat_session"] = dict(conn.execute(sa.text(
            "SELECT id, patient_id FROM chat_sessions WHERE patient_id IS NOT NULL")).all())
    if live["user"]:
        out["user"] = dict(conn.execute(sa.text("SELECT user_id, id FROM patients WHERE user_id IS NOT NULL")).all())
    conn.commit()
    return out


def _live(conn: sa.Connection) -> dict[str, bool]:
    from include.rollback import archive

    return archive.live_sources(conn)


def take_lease(run_id: str, wait_s: float = 0) -> None:
    """What the DAG's acquire_pipeline_lease does (include/core/run_lifecycle.py), without Airflow."""
    lease.acquire_on(db.app_engine(), steps.DAG_ID, run_id, wait_s=wait_s, poll_s=0.2)


def release_lease(run_id: str) -> bool:
    """What the DAG's release_pipeline_lease does."""
    return lease.release_on(db.app_engine(), run_id)


def run_rollback(run_id: str, target: str, *, downgrade_steps: int | None = None, stop_after: str | None = None,
                 lock_timeout_ms: int = 2000) -> dict:
    """The DAG's steps in order, without Airflow (a real run with confirm = ROLLBACK).

    ``stop_after`` ("archive", "verify_archive", "export") or ``downgrade_steps`` (how many downgrade
    steps run) simulate a run killed part-way; the lease is then left held, as by a dead worker.
    """
    from include.rollback import downgrade

    params = {"target_revision": target, "dry_run": False, "confirm": "ROLLBACK", "lock_timeout_ms": lock_timeout_ms}
    out: dict = {"confirm": steps.validate_confirm(params)}
    take_lease(run_id)
    out["preflight"] = steps.preflight(run_id, params)
    out["checksums"] = steps.record_legacy_checksums(run_id)
    out["archive"] = steps.archive_patients_and_links(run_id)
    if stop_after == "archive":
        return out
    out["verify_archive"] = steps.verify_archive(run_id)
    steps.raise_if_failed(out["verify_archive"])
    if stop_after == "verify_archive":
        return out
    out["export"] = steps.export_archive(run_id)
    if stop_after == "export":
        return out
    needed = [r for r in downgrade.DOWNGRADE_TASKS.values() if downgrade.is_needed(r, target)]
    out["downgrades"] = []
    for i, revision in enumerate(needed):
        if downgrade_steps is not None and i >= downgrade_steps:
            return out
        out["downgrades"].append(steps.downgrade_step(run_id, revision, lock_timeout_ms=lock_timeout_ms))
    out["gates"] = [steps.verify_schema(target), steps.verify_legacy_checksums(run_id),
                    steps.verify_archive_counts(run_id)]
    for gate in out["gates"]:
        steps.raise_if_failed(gate)
    release_lease(run_id)
    return out


def forward(conn: sa.Connection, to: str = settings.REV_UPDATE_PATIENTS) -> None:
    for revision in settings.UPGRADE_ORDER[: settings.UPGRADE_ORDER.index(to) + 1]:
        alembic_driver.upgrade(conn, revision)


def revision(conn: sa.Connection) -> str | None:
    return alembic_driver.current_revision(conn)
