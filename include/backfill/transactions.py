"""Short transactions for the backfill: SET LOCAL timeouts, one statement, commit; lock timeouts retried."""

from __future__ import annotations

from collections.abc import Callable
from typing import TypeVar

import sqlalchemy as sa

from include.backfill.models import BackfillOptions
from include.core import locks

T = TypeVar("T")

#: Relations a backfill batch locks rows of (for the "who is blocking" message).
TOUCHED = ("patients", "invites", "chat_sessions")


def start_clean(conn: sa.Connection) -> None:
    """The backfill commits per batch: end whatever the caller left open on ``conn`` first."""
    if conn.in_transaction():
        conn.commit()


def in_short_transaction(conn: sa.Connection, opts: BackfillOptions, what: str,
                         body: Callable[[sa.Connection], T]) -> T:
    """Run ``body`` in its own transaction with SET LOCAL lock_timeout/statement_timeout and commit.

    A lock timeout rolls the transaction back and is retried (include.core.locks.retry_on_lock_timeout);
    any other error rolls back and propagates.
    """

    def attempt() -> T:
        start_clean(conn)
        try:
            conn.exec_driver_sql(f"SET LOCAL lock_timeout = {int(opts.lock_timeout_ms)}")
            conn.exec_driver_sql(f"SET LOCAL statement_timeout = {int(opts.statement_timeout_ms)}")
            out = body(conn)
            conn.commit()
            return out
        except BaseException:
            conn.rollback()
            raise

    def blockers() -> str:
        try:
            return locks.describe_blockers(conn, TOUCHED)
        finally:
            conn.rollback()

    return locks.retry_on_lock_timeout(attempt, what=what, attempts=opts.lock_retries, on_exhausted=blockers)
