"""Lock-safe sessions: timeouts and bounded retries of lock timeouts (PipelineBusy is the lease's refusal)."""

from __future__ import annotations

import logging
import random
import time
from collections.abc import Callable, Iterable
from typing import TypeVar

import psycopg
import sqlalchemy as sa
from psycopg import errors as pg_errors

from include.core import settings
from include.core.errors import GenascopeError

log = logging.getLogger(__name__)
T = TypeVar("T")


class LockTimeoutExhausted(GenascopeError, RuntimeError):
    """A statement could not get its lock within lock_timeout, on every retry."""


class PipelineBusy(GenascopeError, RuntimeError):
    """Another migration, rollback or import holds the pipeline's advisory lock."""


def session_settings_sql(lock_timeout_ms: int, statement_timeout_ms: int) -> str:
    return (
        f"SET lock_timeout = {int(lock_timeout_ms)}; "
        f"SET statement_timeout = {int(statement_timeout_ms)}; "
        "SET idle_in_transaction_session_timeout = 600000"
    )


def apply_session_settings(conn: sa.Connection | psycopg.Connection,
                           lock_timeout_ms: int = settings.DEFAULT_LOCK_TIMEOUT_MS,
                           statement_timeout_ms: int = settings.DEFAULT_STATEMENT_TIMEOUT_MS) -> None:
    """Session-level (not SET LOCAL) so the settings survive autocommit blocks."""
    for stmt in session_settings_sql(lock_timeout_ms, statement_timeout_ms).split("; "):
        if isinstance(conn, sa.Connection):
            conn.exec_driver_sql(stmt)
        else:
            conn.execute(stmt)


def reset_session_settings(conn: sa.Connection | psycopg.Connection) -> None:
    for name in ("lock_timeout", "statement_timeout", "idle_in_transaction_session_timeout"):
        if isinstance(conn, sa.Connection):
            conn.exec_driver_sql(f"RESET {name}")
        else:
            conn.execute(f"RESET {name}")


def is_lock_timeout(exc: BaseException) -> bool:
    orig = getattr(exc, "orig", exc)
    return isinstance(orig, pg_errors.LockNotAvailable)


def describe_blockers(conn: sa.Connection, relations: Iterable[str] | None = None) -> str:
    """Which relations other sessions hold locks on (pids and modes only, no query text)."""
    rows = conn.exec_driver_sql(
        """
        SELECT c.relname, l.mode, l.pid, now() - a.xact_start AS held_for
        FROM pg_locks l
        JOIN pg_class c ON c.oid = l.relation
        JOIN pg_namespace n ON n.oid = c.relnamespace
        LEFT JOIN pg_stat_activity a ON a.pid = l.pid
        WHERE l.granted AND l.pid <> pg_backend_pid() AND n.nspname NOT IN ('pg_catalog', 'information_schema')
          AND c.relkind IN ('r', 'p')
        ORDER BY c.relname, l.pid
        """
    ).all()
    wanted = set(relations or [])
    found = [r for r in rows if not wanted or r.relname in wanted]
    if not found:
        return "no blocking lock is visible any more"
    return "; ".join(f"{r.relname} held in {r.mode} by pid {r.pid} for {r.held_for}" for r in found)


def retry_on_lock_timeout(fn: Callable[[], T], *, what: str, attempts: int = settings.DEFAULT_LOCK_RETRIES,
                          base_delay_s: float = 0.5, max_delay_s: float = 15.0,
                          on_exhausted: Callable[[], str] | None = None) -> T:
    """Run ``fn``; when it fails with a lock timeout, back off (jittered, exponential) and retry.

    After ``attempts`` failures, raise :class:`LockTimeoutExhausted` naming the blocking relation
    (``on_exhausted`` returns that description).
    """
    for attempt in range(1, attempts + 1):
        try:
            return fn()
        except (sa.exc.OperationalError, pg_errors.LockNotAvailable) as exc:
            if not is_lock_timeout(exc):
                raise
            if attempt == attempts:
                blockers = on_exhausted() if on_exhausted else "unknown"
                raise LockTimeoutExhausted(
                    f"{what}: could not get a lock within lock_timeout after {attempts} attempts; "
                    f"blocking: {blockers}. Let the blocking transaction finish (or end it) and re-run."
                ) from exc
            delay = min(max_delay_s, base_delay_s * 2 ** (attempt - 1)) * (0.5 + random.random())
            log.warning("%s: lock timeout (attempt %d/%d), retrying in %.1fs", what, attempt, attempts, delay)
            time.sleep(delay)
    raise AssertionError("unreachable")


