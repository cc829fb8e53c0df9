"""Load the generated legacy rows into a database with psycopg 3 ``COPY ... FROM STDIN``.

All six legacy tables are written in ONE transaction (all or nothing): chunk by chunk, in FK order.
A background thread runs the pure generator one or two chunks ahead while the main thread streams
the previous chunk to the server, so Python and PostgreSQL work at the same time and memory stays
bounded by a few chunks.

References (``fk_checks``): the per-row FK triggers cost about two thirds of the server's time. In
``verify`` mode the transaction sets ``session_replication_role = replica`` (superuser, or a role
granted ``SET`` on that parameter), so COPY skips those triggers, and ``verify_references.sql``
proves every reference set-based before COMMIT (any orphan rolls everything back). ``on`` keeps
the per-row triggers. ``auto`` (default) uses ``verify`` when the role may, else ``on``. Unique
and primary-key indexes are enforced either way.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from collections.abc import Iterator
from typing import TypeVar

import psycopg
import sqlalchemy as sa
from psycopg import sql
from sqlalchemy.pool import NullPool

from include.core import alembic_driver, db, settings, sql_files
from include.core.errors import GenascopeError
from include.seed.generator import COLUMNS, TABLES, LegacyGenerator, SeedSummary

log = logging.getLogger(__name__)

T = TypeVar("T")

FK_MODES = ("auto", "on", "verify")


class SeedTargetNotReady(GenascopeError, RuntimeError):
    """The target database is not at a revision the legacy seed can write to."""


class SeedTargetNotEmpty(GenascopeError, RuntimeError):
    """The legacy tables already hold rows; the seed only fills empty tables."""


class SeedIntegrityError(GenascopeError, RuntimeError):
    """The generated rows would break a reference; nothing was committed (a generator bug)."""


class SeedPermissionError(GenascopeError, RuntimeError):
    """``fk_checks='verify'`` was asked for but the role may not set session_replication_role."""


def check_target(uri: str) -> str:
    """Fail clearly unless the database is at the legacy baseline or a later revision that still
    accepts legacy rows, with empty legacy tables. Returns the revision."""
    engine = db.create_engine(uri, poolclass=NullPool)
    try:
        with engine.connect() as conn:
            rev = alembic_driver.current_revision(conn)
            if rev is None:
                raise SeedTargetNotReady(
                    "the database has no alembic revision; create the legacy schema first with "
                    f"`alembic upgrade {settings.REV_BASELINE}` (or include.core.alembic_driver.upgrade) and run the seed again")
            if rev == settings.REV_FINALIZE_INVITES:
                raise SeedTargetNotReady(
                    f"the database is at {rev}: invites.patient_id is NOT NULL there, so legacy invites cannot be "
                    f"inserted; seed a database at {settings.REV_BASELINE} (or downgrade first)")
            busy = [t for t in TABLES if conn.execute(sa.text(f"SELECT EXISTS (SELECT 1 FROM {t})")).scalar()]
            conn.rollback()
    finally:
        engine.dispose()
    if busy:
        raise SeedTargetNotEmpty(
            f"legacy tables already hold rows ({', '.join(busy)}); the seed writes fixed ids and only fills an "
            "empty database: use a fresh database (or drop and re-create this one) and run the seed again")
    return rev


def _ahead(source: Iterator[T], depth: int = 2) -> Iterator[T]:
    """Run ``source`` in a thread, at most ``depth`` items ahead of the consumer."""
    box: queue.Queue[tuple[str, object]] = queue.Queue(maxsize=depth)
    stop = threading.Event()

    def produce() -> None:
        try:
            for item in source:
                while not stop.is_set():
                    try:
                        box.put(("item", item), timeout=0.5)
                        break
                    except queue.Full:
                        continue
                if stop.is_set():
                    return
            box.put(("done", None))
        except BaseException as exc:  # handed to the consumer, re-raised there
            box.put(("error", exc))

    worker = threading.Thread(target=produce, name="seed-generator", daemon=True)
    worker.start()
    try:
        while True:
            kind, value = box.get()
            if kind == "done":
                return
            if kind == "error":
                assert isinstance(value, BaseException)
                raise value
            yield value  # type: ignore[misc]
    finally:
        stop.set()
        worker.join(timeout=5)


def copy_rows(cur: psycopg.Cursor, table: str, rows: list[tuple[object, ...]]) -> None:
    """One ``COPY table (columns) FROM STDIN`` of ``rows`` (text format, values adapted by psycopg)."""
    stmt = sql.SQL("COPY {} ({}) FROM STDIN").format(
        sql.Identifier(table), sql.SQL(", ").join(sql.Identifier(c) for c in COLUMNS[table]))
    with cur.copy(stmt) as copy:
        write = copy.write_row
        for row in rows:
            write(row)


def _skip_fk_triggers(conn: psycopg.Connection) -> bool:
    """Try ``SET LOCAL session_replication_role = replica`` (in a savepoint); False if not permitted."""
    try:
        with conn.transaction():
            conn.execute("SET LOCAL session_replication_role = replica")
    except psycopg.errors.InsufficientPrivilege:
        return False
    return True


def verify_references(conn: psycopg.Connection) -> dict[str, int]:
    """Orphan counts per reference (see verify_references.sql); all zero for a sound data set."""
    return {ref: int(n) for ref, n in conn.execute(sql_files.text("seed", "verify_references")).fetchall()}


def load(uri: str, generator: LegacyGenerator, *, fk_checks: str = "auto") -> SeedSummary:
    """Stream every chunk of ``generator`` into the database at ``uri`` in one transaction."""
    if fk_checks not in FK_MODES:
        raise ValueError(f"fk_checks must be one of {', '.join(FK_MODES)}")
    started = time.monotonic()
    with psycopg.connect(db.to_libpq_uri(uri), application_name="genascope_seed") as conn:
        with conn.cursor() as cur:
            cur.execute("SET LOCAL synchronous_commit = off")  # a throw-away load; durability at COMMIT is moot
            skipped = fk_checks != "on" and _skip_fk_triggers(conn)
            if fk_checks == "verify" and not skipped:
                raise SeedPermissionError(
                    "fk_checks='verify' needs a superuser or `GRANT SET ON PARAMETER session_replication_role`; "
                    "run with --fk-checks on (slower, per-row FK triggers) instead")
            for n, chunk in enumerate(_ahead(generator.chunks()), start=1):
                for table in TABLES:
                    rows = chunk.rows(table)
                    if rows:
                        copy_rows(cur, table, rows)
                log.info("seed chunk %d loaded", n)
            if skipped:
                orphans = {ref: k for ref, k in verify_references(conn).items() if k}
                if orphans:
                    raise SeedIntegrityError(
                        f"generated rows break references {orphans} (counts only); nothing was committed. "
                        "This is a generator bug: report the seed and size")
        conn.commit()
    summary = generator.summary
    summary.elapsed_s = round(time.monotonic() - started, 2)
    summary.reference_checks = "verified after load" if skipped else "per-row FK triggers"
    return summary


def generate(uri: str, invites: int, seed: int = 42, *, missing_names: int = 0,
             chunk_invites: int | None = None, fk_checks: str = "auto") -> SeedSummary:
    """Write ``invites`` legacy invites (and the users, profiles, chats around them) into ``uri``.

    The database must be at ``20250526_legacy_baseline`` (or a later revision before finalize) with
    empty legacy tables. Same ``seed`` and ``invites`` give identical rows, ids included.
    """
    check_target(uri)
    kwargs = {"chunk_invites": chunk_invites} if chunk_invites else {}
    return load(uri, LegacyGenerator(invites, seed, missing_names=missing_names, **kwargs), fk_checks=fk_checks)
