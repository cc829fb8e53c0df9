"""Preflight and bookkeeping of a migration (or rollback) run: reachability, revision, contract,
legacy checksums, the run record. Everything it stores is counts, checksums and revision ids."""

from __future__ import annotations

import json
import logging
from dataclasses import asdict, dataclass

import sqlalchemy as sa

from include import checksums, db, legacy_contract, migration_driver, pipeline_schema, settings

log = logging.getLogger(__name__)


class ChecksumsChanged(RuntimeError):
    """Legacy rows changed where the pipeline promised to change nothing."""


@dataclass(frozen=True)
class PreflightInfo:
    database: str
    server_version: str
    revision: str | None
    legacy_rows: dict[str, int]


def check_database(conn: sa.Connection) -> PreflightInfo:
    """The app DB is reachable, its revision is one we know, and its legacy schema matches the contract."""
    version = str(conn.execute(sa.text("SHOW server_version")).scalar())
    revision = migration_driver.current_revision(conn)
    if revision is None:
        raise migration_driver.UnknownRevision(
            "the database has no alembic revision: build it with `python -m alembic upgrade "
            f"{settings.REV_BASELINE}` (new databases) or verify and stamp it with "
            "`python -m include.cli stamp-baseline` (an existing production database)"
        )
    legacy_contract.verify(conn)
    counts = {t: c.rows for t, c in checksums.legacy_checksums(conn).items()}
    conn.commit()
    return PreflightInfo(db.resolve_app_database().describe(), version, revision, counts)


def start_run(conn: sa.Connection, run_id: str, dag_id: str, dry_run: bool, params: dict) -> None:
    pipeline_schema.ensure(conn)
    revision = migration_driver.current_revision(conn)
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
    revision = migration_driver.current_revision(conn)
    conn.execute(sa.text(
        "UPDATE patient_pipeline.pipeline_runs SET status = :s, finished_at = now() AT TIME ZONE 'utc', "
        "revision_after = :rev WHERE run_id = :r"), {"r": run_id, "s": status, "rev": revision})
    conn.commit()


def record_checksums(conn: sa.Connection, run_id: str, phase: str) -> dict[str, checksums.TableChecksum]:
    """Take and store the legacy checksums (idempotent per run and phase: a retry keeps the first)."""
    pipeline_schema.ensure(conn)
    taken = checksums.legacy_checksums(conn)
    revision = migration_driver.current_revision(conn)
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


def verify_checksums_unchanged(conn: sa.Connection, expected: dict[str, checksums.TableChecksum]) -> list[str]:
    """Differences between ``expected`` and the live legacy tables (empty: unchanged)."""
    live = checksums.legacy_checksums(conn)
    conn.commit()
    return checksums.compare(expected, live)


def info_dict(info: PreflightInfo) -> dict:
    return asdict(info)
