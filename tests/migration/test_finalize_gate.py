"""20250530_finalize_invites refuses while any invite is unlinked, and then changes nothing."""

from __future__ import annotations

import threading
import time

import psycopg
import pytest
import sqlalchemy as sa
from migration_helpers import LINK_ROWS_SQL, PHI_SAMPLES, at, columns, constraints, revision, run_sql

from include.core import alembic_driver, catalog, db, settings


def test_finalize_refuses_naming_the_unlinked_count_and_changes_nothing(legacy_conn: sa.Connection) -> None:
    conn = legacy_conn
    at(conn, settings.REV_UPDATE_PATIENTS)
    run_sql(conn, [LINK_ROWS_SQL[0], "UPDATE invites SET patient_id = 'pat-1' WHERE id = 'inv-1'"])
    before = catalog.snapshot(conn)
    conn.commit()

    with pytest.raises(RuntimeError, match=r"2 invites are not linked") as refused:
        alembic_driver.upgrade(conn, settings.REV_FINALIZE_INVITES)
    message = str(refused.value)
    assert type(refused.value).__name__ == "InvitesNotLinked"
    assert "invites.patient_id NOT NULL" in message and "backfill" in message  # says what to do next
    assert not any(s in message for s in PHI_SAMPLES)

    assert revision(conn) == settings.REV_UPDATE_PATIENTS
    assert columns(conn, "invites")["patient_id"][1] is False  # still nullable
    assert "ck_invites_patient_id_not_null" not in constraints(conn)
    assert catalog.snapshot(conn) == before
    conn.commit()

    # Once every invite is linked, the same step goes through.
    run_sql(conn, ["UPDATE invites SET patient_id = 'pat-2' WHERE patient_id IS NULL"])
    step = alembic_driver.upgrade(conn, settings.REV_FINALIZE_INVITES)
    assert step.after == settings.REV_FINALIZE_INVITES
    assert columns(conn, "invites")["patient_id"][1] is True


def test_after_finalize_an_unlinked_invite_cannot_be_written(legacy_conn: sa.Connection) -> None:
    at(legacy_conn, settings.REV_UPDATE_PATIENTS)
    run_sql(legacy_conn, LINK_ROWS_SQL)
    alembic_driver.upgrade(legacy_conn, settings.REV_FINALIZE_INVITES)
    with pytest.raises(sa.exc.IntegrityError, match="not-null|null value"):
        legacy_conn.execute(sa.text(
            "INSERT INTO invites (id, email, invite_token) VALUES ('inv-9', 'x@example.invalid', 'tok-9')"))
    legacy_conn.rollback()


def test_an_invite_written_while_finalize_waits_for_its_lock_is_refused_cleanly(
        legacy_conn: sa.Connection, fresh_db: str) -> None:
    conn = legacy_conn
    at(conn, settings.REV_UPDATE_PATIENTS)
    run_sql(conn, LINK_ROWS_SQL)
    blocker = psycopg.connect(db.to_libpq_uri(fresh_db))  # an application transaction reading invites
    blocker.execute("SELECT count(*) FROM invites").fetchone()
    outcome: dict[str, BaseException] = {}

    def finalize() -> None:
        try:
            alembic_driver.upgrade(conn, settings.REV_FINALIZE_INVITES, lock_timeout_ms=5000, lock_retries=1)
        except BaseException as exc:  # examined below
            outcome["error"] = exc

    worker = threading.Thread(target=finalize, daemon=True)
    worker.start()
    try:
        deadline = time.monotonic() + 4
        while not blocker.execute(
                "SELECT count(*) FROM pg_locks WHERE relation = to_regclass('invites') "
                "AND mode = 'AccessExclusiveLock' AND NOT granted").fetchone()[0]:
            assert time.monotonic() < deadline, "finalize never waited for its lock"
            time.sleep(0.02)
        # The blocker already holds a lock on invites, so its insert is not queued behind the ALTER.
        blocker.execute("INSERT INTO invites (id, email, invite_token) VALUES ('inv-late', 'late@example.invalid', 't')")
        blocker.commit()
        worker.join(15)
    finally:
        blocker.close()
    conn.rollback()
    assert "error" in outcome, "finalize went through with an unlinked invite"
    assert isinstance(outcome["error"], RuntimeError) and "1 invites are not linked" in str(outcome["error"])
    assert revision(conn) == settings.REV_UPDATE_PATIENTS
    assert "ck_invites_patient_id_not_null" not in constraints(conn)
