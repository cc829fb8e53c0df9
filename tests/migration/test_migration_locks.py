"""Lock safety on a busy database: a migration step that cannot get its lock gives up within
lock_timeout (so application queries never queue behind it for longer), retries with backoff, names
the blocked table when it gives up, succeeds once the blocker is gone, and resumes a revision that
was interrupted half-way."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Iterator

import psycopg
import pytest
import sqlalchemy as sa
from migration_helpers import at, columns, indexes, revision

from include.core import alembic_driver, db, locks, settings

LOCK_TIMEOUT_MS = 200
WAITING_FOR_LOCK_ON = (
    "SELECT count(*) FROM pg_locks WHERE relation = to_regclass(%s) "
    "AND mode = 'AccessExclusiveLock' AND NOT granted"
)


@pytest.fixture
def blocker(fresh_db: str) -> Iterator[psycopg.Connection]:
    """A separate session, as a long-running application transaction would be."""
    conn = psycopg.connect(db.to_libpq_uri(fresh_db))
    try:
        yield conn
    finally:
        conn.close()


@pytest.fixture
def app(fresh_db: str) -> Iterator[psycopg.Connection]:
    """An application session (autocommit, no lock_timeout of its own)."""
    conn = psycopg.connect(db.to_libpq_uri(fresh_db), autocommit=True)
    try:
        yield conn
    finally:
        conn.close()


class QueuedQueryProbe(threading.Thread):
    """Whenever the migration is seen waiting for its lock on ``waiting_on``, run an application
    query on invites and measure how long it is queued behind the migration."""

    def __init__(self, conn: psycopg.Connection, waiting_on: str = "invites") -> None:
        super().__init__(daemon=True)
        self.conn = conn
        self.waiting_on = waiting_on
        self.latencies: list[float] = []
        self.stop = threading.Event()

    def run(self) -> None:
        while not self.stop.is_set():
            if self.conn.execute(WAITING_FOR_LOCK_ON, (self.waiting_on,)).fetchone()[0]:
                started = time.monotonic()
                self.conn.execute("SELECT id, status FROM invites WHERE id = 'inv-1'").fetchall()
                self.latencies.append(time.monotonic() - started)
            time.sleep(0.01)


def test_a_blocked_step_gives_up_quickly_names_the_table_and_never_stalls_the_application(
        legacy_conn: sa.Connection, blocker: psycopg.Connection, app: psycopg.Connection) -> None:
    at(legacy_conn, settings.REV_CREATE_PATIENTS)
    blocker.execute("SELECT count(*) FROM invites").fetchone()  # ACCESS SHARE, held: transaction open
    probe = QueuedQueryProbe(app)
    probe.start()
    started = time.monotonic()
    try:
        with pytest.raises(locks.LockTimeoutExhausted) as exhausted:
            alembic_driver.upgrade(legacy_conn, settings.REV_UPDATE_INVITES,
                                   lock_timeout_ms=LOCK_TIMEOUT_MS, lock_retries=2)
        elapsed = time.monotonic() - started
    finally:
        probe.stop.set()
        probe.join(5)
    # 2 attempts x 200 ms + one jittered backoff (<= 0.75 s) + overhead.
    assert elapsed < 5, f"gave up only after {elapsed:.1f}s"
    message = str(exhausted.value)
    assert "invites held in AccessShareLock" in message and "after 2 attempts" in message
    assert isinstance(exhausted.value.__cause__.orig, psycopg.errors.LockNotAvailable)

    # The application query was queued behind the waiting ALTER, but never longer than lock_timeout.
    assert probe.latencies, "the migration was never seen waiting for its lock"
    assert max(probe.latencies) < LOCK_TIMEOUT_MS / 1000 + 0.3, probe.latencies

    # Nothing of the step is left behind.
    legacy_conn.rollback()
    assert revision(legacy_conn) == settings.REV_CREATE_PATIENTS
    assert "patient_id" not in columns(legacy_conn, "invites")
    assert "patient_id" not in columns(legacy_conn, "chat_sessions")


def test_invites_traffic_is_not_blocked_while_the_step_waits_for_chat_sessions(
        legacy_conn: sa.Connection, blocker: psycopg.Connection, app: psycopg.Connection) -> None:
    """20250528 runs each ALTER in its own short transaction: while it waits for chat_sessions it holds
    no lock on invites, so invites traffic is not queued at all; the part already committed is kept
    and a re-run completes the step."""
    at(legacy_conn, settings.REV_CREATE_PATIENTS)
    blocker.execute("SELECT count(*) FROM chat_sessions").fetchone()
    probe = QueuedQueryProbe(app, waiting_on="chat_sessions")
    probe.start()
    try:
        with pytest.raises(locks.LockTimeoutExhausted, match="chat_sessions held in AccessShareLock"):
            alembic_driver.upgrade(legacy_conn, settings.REV_UPDATE_INVITES,
                                   lock_timeout_ms=LOCK_TIMEOUT_MS, lock_retries=2)
    finally:
        probe.stop.set()
        probe.join(5)
    assert probe.latencies, "the migration was never seen waiting for its lock"
    assert max(probe.latencies) < 0.1, probe.latencies  # not queued behind the migration
    legacy_conn.rollback()
    assert revision(legacy_conn) == settings.REV_CREATE_PATIENTS
    assert "patient_id" in columns(legacy_conn, "invites")  # committed part, kept for the re-run
    assert "patient_id" not in columns(legacy_conn, "chat_sessions")
    blocker.rollback()
    alembic_driver.upgrade(legacy_conn, settings.REV_UPDATE_INVITES, lock_timeout_ms=LOCK_TIMEOUT_MS)
    assert revision(legacy_conn) == settings.REV_UPDATE_INVITES
    assert "patient_id" in columns(legacy_conn, "chat_sessions")


def test_a_blocked_step_succeeds_on_retry_once_the_blocker_commits(
        legacy_conn: sa.Connection, blocker: psycopg.Connection, app: psycopg.Connection,
        caplog: pytest.LogCaptureFixture) -> None:
    at(legacy_conn, settings.REV_CREATE_PATIENTS)
    blocker.execute("SELECT count(*) FROM invites").fetchone()
    outcome: dict[str, object] = {}

    def run_upgrade() -> None:
        try:
            outcome["step"] = alembic_driver.upgrade(legacy_conn, settings.REV_UPDATE_INVITES,
                                                     lock_timeout_ms=LOCK_TIMEOUT_MS, lock_retries=5)
        except Exception as exc:  # surfaced by the assertions below
            outcome["error"] = exc

    caplog.set_level(logging.WARNING, logger="include.core.locks")
    started = time.monotonic()
    worker = threading.Thread(target=run_upgrade, daemon=True)
    worker.start()
    time.sleep(1.0)
    assert worker.is_alive(), f"the upgrade did not wait for the blocker: {outcome}"
    assert app.execute("SELECT version_num FROM alembic_version").fetchone()[0] == settings.REV_CREATE_PATIENTS
    blocker.rollback()  # the application transaction ends
    worker.join(20)
    elapsed = time.monotonic() - started

    assert not worker.is_alive(), "the upgrade did not finish after the blocker released its lock"
    assert "error" not in outcome, outcome.get("error")
    step = outcome["step"]
    assert isinstance(step, alembic_driver.StepResult) and step.after == settings.REV_UPDATE_INVITES
    assert elapsed >= 1.0
    retries = [r.getMessage() for r in caplog.records if "lock timeout (attempt" in r.getMessage()]
    assert retries and all("/5)" in m for m in retries)
    assert revision(legacy_conn) == settings.REV_UPDATE_INVITES
    assert indexes(legacy_conn)["ix_invites_patient_id"].valid


def test_an_interrupted_concurrent_index_build_is_rebuilt_on_resume(
        legacy_conn: sa.Connection, blocker: psycopg.Connection) -> None:
    """CREATE INDEX CONCURRENTLY waits for older snapshots; if it times out, the INVALID index it
    leaves behind is dropped and rebuilt when the step runs again (the committed parts are kept)."""
    at(legacy_conn, settings.REV_CREATE_PATIENTS)
    blocker.execute("BEGIN ISOLATION LEVEL REPEATABLE READ")
    blocker.execute("SELECT count(*) FROM accounts").fetchone()  # an old snapshot, no lock on invites

    with pytest.raises(locks.LockTimeoutExhausted):
        alembic_driver.upgrade(legacy_conn, settings.REV_UPDATE_INVITES,
                               lock_timeout_ms=LOCK_TIMEOUT_MS, lock_retries=1)
    legacy_conn.rollback()
    assert revision(legacy_conn) == settings.REV_CREATE_PATIENTS
    assert "patient_id" in columns(legacy_conn, "invites")  # the first transaction committed
    assert indexes(legacy_conn)["ix_invites_patient_id"].valid is False

    blocker.rollback()
    step = alembic_driver.upgrade(legacy_conn, settings.REV_UPDATE_INVITES,
                                  lock_timeout_ms=LOCK_TIMEOUT_MS, lock_retries=1)
    assert step.after == settings.REV_UPDATE_INVITES
    idx = indexes(legacy_conn)
    assert idx["ix_invites_patient_id"].valid and idx["ix_chat_sessions_patient_id"].valid
    names = legacy_conn.execute(sa.text(
        "SELECT count(*) FROM pg_indexes WHERE tablename = 'invites' AND indexdef LIKE '%(patient_id)%'")).scalar()
    assert names == 1


def test_the_driver_leaves_the_callers_session_settings_as_it_found_them(legacy_conn: sa.Connection) -> None:
    show = "SELECT current_setting('lock_timeout'), current_setting('statement_timeout')"
    before = legacy_conn.execute(sa.text(show)).one()
    legacy_conn.commit()
    alembic_driver.upgrade(legacy_conn, settings.REV_CREATE_PATIENTS, lock_timeout_ms=LOCK_TIMEOUT_MS)
    assert legacy_conn.execute(sa.text(show)).one() == before
