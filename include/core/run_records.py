"""Preflight and bookkeeping of a migration (or rollback) run: reachability, revision, contract,
legacy checksums, the run record. Everything it stores is counts, checksums and revision ids."""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass

import sqlalchemy as sa

from include.core import alembic_driver, catalog, checksums, db, legacy_contract, pipeline_schema, settings

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class PreflightInfo:
    database: str
    server_version: str
    revision: str | None
    legacy_rows: dict[str, int]


def check_database(conn: sa.Connection) -> PreflightInfo:
    """The app DB is reachable, its revision is one we know, and its legacy schema matches the contract."""
    version = str(conn.execute(sa.text("SHOW server_version")).scalar())
    revision = alembic_driver.current_revision(conn)
    if revision is None:
        raise alembic_driver.UnknownRevision(
            "the database has no alembic revision: build it with `python -m alembic upgrade "
            f"{settings.REV_BASELINE}` (new databases) or verify and stamp it with "
            "`python -m include.cli stamp-baseline` (an existing production database)"
        )
    legacy_contract.verify(conn)
    # Counts only: the checksums (md5 of every row) are taken once, by record_checksums.
    counts = catalog.row_counts(conn, list(legacy_contract.LEGACY_COLUMNS))
    conn.commit()
    return PreflightInfo(db.resolve_app_database().describe(), version, revision, counts)


def start_run(conn: sa.Connection, run_id: str, dag_id: str, dry_run: bool, params: dict) -> None:
    pipeline_schema.ensure(conn)
    revision = alembic_driver.current_revision(conn)
    conn.execute(sa.text(
        """
        INSERT INTO patient_pipeline.pipeline_runs (run_id, dag_id, dry_run, params, revision_before)
        VALUES (:r, :d, :dry, CAST(:p AS jsonb), :rev)
        ON CONFLICT (run_id) DO UPDATE SET status = 'running', finished_at = NULL
        """), {"r": run_id, "d": dag_id, "dry": dry_run, "p": json.dumps(params, default=str), "rev": revision})
    conn.commit()


def record_applied_revision(conn: sa.Connection, run_id: str, revision: str) -> None:
    conn.execute(sa.text(
        "UPDATE patient_pipeline.pipeline_runs SET applied_revisions = array_append(applied_revisions, :rev) "
        "WHERE run_id = :r AND NOT (:rev = ANY(applied_revisions))"), {"r": run_id, "rev": revision})
    conn.commit()


def applied_revisions(conn: sa.Connection, run_id: str) -> list[str]:
    row = conn.execute(sa.text(
        "SELECT applied_revisions FROM patient_pipeline.pipeline_runs WHERE run_id = :r"), {"r": run_id}).first()
    conn.commit()
    return list(row[0]) if row else []


def finish_run(conn: sa.Connection, run_id: str, status: str) -> None:
    revision = alembic_driver.current_revision(conn)
    conn.execute(sa.text(
        "UPDATE patient_pipeline.pipeline_runs SET status = :s, finished_at = now() AT TIME ZONE 'utc', "
        "revision_after = :rev WHERE run_id = :r"), {"r": run_id, "s": status, "rev": revision})
    conn.commit()


def record_checksums(conn: sa.Connection, run_id: str, phase: str) -> dict[str, checksums.TableChecksum]:
    """Take and store the legacy checksums (idempotent per run and phase: a retry keeps the first).

    For phase 'before' also the per-row hashes of invites and chat_sessions and the time they were
    taken, in one REPEATABLE READ snapshot, so the gate can separate the application's writes.
    """
    pipeline_schema.ensure(conn)
    if phase == "before":
        already = stored_checksums(conn, run_id, phase)
        if already:
            return already
    conn.exec_driver_sql("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ")
    # The first statement fixes the snapshot. Its time stamp is not our own start but the start of the
    # oldest transaction running at that moment: an application transaction that began before the
    # snapshot and commits after it stamps its rows with its own (earlier) now(), and those rows must
    # still count as the application's. (A role that cannot see other sessions' xact_start gets ours.)
    taken_at = conn.execute(sa.text(
        "SELECT min(xact_start) AT TIME ZONE 'utc' FROM pg_stat_activity "
        "WHERE datname = current_database() AND xact_start IS NOT NULL")).scalar()
    taken = checksums.legacy_checksums(conn)
    if phase == "before":
        for table in checksums.LINKED_TABLES:
            conn.execute(sa.text(
                f"INSERT INTO patient_pipeline.legacy_row_hashes (run_id, table_name, id, row_hash) "
                f"SELECT :r, :t, t.id, {checksums.row_hash_expr(table)} FROM {table} t "
                "ON CONFLICT DO NOTHING"), {"r": run_id, "t": table})
        conn.execute(sa.text(
            "UPDATE patient_pipeline.pipeline_runs SET checksums_taken_at = :t0 WHERE run_id = :r"),
            {"r": run_id, "t0": taken_at})
    revision = alembic_driver.current_revision(conn)
    for c in taken.values():
        conn.execute(sa.text(
            """
            INSERT INTO patient_pipeline.legacy_checksums (run_id, phase, revision, table_name, row_count, checksum)
            VALUES (:r, :ph, :rev, :t, :n, :s) ON CONFLICT (run_id, phase, table_name) DO NOTHING
            """), {"r": run_id, "ph": phase, "rev": revision, "t": c.table, "n": c.rows, "s": c.checksum})
    conn.commit()
    return stored_checksums(conn, run_id, phase)


def stored_checksums(conn: sa.Connection, run_id: str, phase: str) -> dict[str, checksums.TableChecksum]:
    rows = conn.execute(sa.text(
        "SELECT table_name, row_count, checksum FROM patient_pipeline.legacy_checksums "
        "WHERE run_id = :r AND phase = :ph"), {"r": run_id, "ph": phase}).all()
    conn.commit()
    return {t: checksums.TableChecksum(t, int(n), s) for t, n, s in rows}


def original_checksums(conn: sa.Connection) -> tuple[str, dict[str, checksums.TableChecksum]] | None:
    """The earliest 'before' snapshot taken while the database was still at the legacy baseline."""
    pipeline_schema.ensure(conn)
    row = conn.execute(sa.text(
        "SELECT run_id FROM patient_pipeline.legacy_checksums WHERE phase = 'before' AND revision = :rev "
        "ORDER BY taken_at, run_id LIMIT 1"), {"rev": settings.REV_BASELINE}).first()
    conn.commit()
    if row is None:
        return None
    return row[0], stored_checksums(conn, row[0], "before")


@dataclass(frozen=True)
class ChangeAudit:
    """Legacy rows that differ from this run's preflight, split by who changed them."""

    pipeline_changed: dict[str, list[str]]   # table -> ids changed although updated_at did not move
    application_changed: dict[str, int]      # table -> rows the application wrote since preflight
    unexplained_tables: list[str]            # tables without per-row hashes whose checksum moved silently


def audit_legacy_changes(conn: sa.Connection, run_id: str) -> ChangeAudit:
    """Compare the live legacy tables with this run's preflight.

    invites/chat_sessions: per row. A row whose original columns changed while its updated_at stayed
    before the preflight snapshot's time stamp can only have been changed by something that does not maintain
    updated_at, i.e. not the application: a pipeline violation. Rows created or updated after
    preflight, and rows deleted, are the application's. Other legacy tables (the pipeline never writes
    them): a changed table checksum is the application's if any row's created_at/updated_at moved past
    preflight, else unexplained (a violation).
    """
    taken_at = conn.execute(sa.text(
        "SELECT checksums_taken_at FROM patient_pipeline.pipeline_runs WHERE run_id = :r"), {"r": run_id}).scalar()
    before = stored_checksums(conn, run_id, "before")
    live = checksums.legacy_checksums(conn)
    pipeline_changed: dict[str, list[str]] = {}
    application_changed: dict[str, int] = {}
    unexplained: list[str] = []
    for table in checksums.LINKED_TABLES:
        rows = conn.execute(sa.text(
            f"""
            SELECT t.id, (t.updated_at >= :t0 OR t.created_at >= :t0 OR h.id IS NULL) AS by_application
            FROM {table} t
            LEFT JOIN patient_pipeline.legacy_row_hashes h
              ON h.run_id = :r AND h.table_name = :tn AND h.id = t.id
            WHERE h.id IS NULL OR h.row_hash <> {checksums.row_hash_expr(table)}
            """), {"r": run_id, "tn": table, "t0": taken_at}).all()
        deleted = conn.execute(sa.text(
            f"SELECT count(*) FROM patient_pipeline.legacy_row_hashes h WHERE h.run_id = :r AND h.table_name = :tn "
            f"AND NOT EXISTS (SELECT 1 FROM {table} t WHERE t.id = h.id)"), {"r": run_id, "tn": table}).scalar()
        bad = sorted(r.id for r in rows if not r.by_application)
        if bad:
            pipeline_changed[table] = bad
        app = sum(1 for r in rows if r.by_application) + int(deleted or 0)
        if app:
            application_changed[table] = app
    for table, expected in before.items():
        if table in checksums.LINKED_TABLES or live.get(table) == expected:
            continue
        moved = conn.execute(sa.text(
            f"SELECT count(*) FROM {table} WHERE greatest(created_at, updated_at) >= :t0"), {"t0": taken_at}).scalar() \
            if table != "chat_messages" else conn.execute(sa.text(
                "SELECT count(*) FROM chat_messages WHERE created_at >= :t0"), {"t0": taken_at}).scalar()
        if moved:
            application_changed[table] = int(moved)
        else:
            unexplained.append(table)
    conn.commit()
    return ChangeAudit(pipeline_changed, application_changed, unexplained)


def verify_checksums_unchanged(conn: sa.Connection, expected: dict[str, checksums.TableChecksum]) -> list[str]:
    """Differences between ``expected`` and the live legacy tables (empty: unchanged)."""
    live = checksums.legacy_checksums(conn)
    conn.commit()
    return checksums.compare(expected, live)


