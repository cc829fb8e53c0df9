"""What the "Patient pipeline" page shows, read from the app database and Airflow's metadata DB.

Counts, ids, revision ids, statuses and times only: nothing here reads a name, an e-mail or a
quarantined row's values. Every read is a plain SELECT (``include/sql/ui/*.sql``); a database the
pipeline has not touched yet (no ``patient_pipeline`` schema) reads as empty, not as an error.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import sqlalchemy as sa

from include.core import settings
from include.ui import storage

log = logging.getLogger(__name__)

LEDGER_NIGHTS = 14
RUNS_PER_DAG = 5


@dataclass
class DagRunRow:
    dag_id: str
    run_id: str
    state: str
    run_after: datetime | None
    start_date: datetime | None
    end_date: datetime | None
    report_status: str | None = None  # the run report's own status ("dry run", "done", "rejected: …")


@dataclass
class AppDbState:
    reachable: bool
    database: str = ""
    revision: str | None = None
    lease: dict[str, Any] | None = None
    migration_runs: list[dict[str, Any]] = field(default_factory=list)
    ledger: list[dict[str, Any]] = field(default_factory=list)
    review_items: list[dict[str, Any]] = field(default_factory=list)
    quarantine: list[dict[str, Any]] = field(default_factory=list)
    queue_by_kind: list[dict[str, Any]] = field(default_factory=list)  # review_queue: open/decided by kind
    match_runs: list[dict[str, Any]] = field(default_factory=list)  # the matcher's last runs (counts)
    error: str = ""


def _sql(name: str) -> sa.TextClause:
    return sa.text((settings.SQL_DIR / "ui" / f"{name}.sql").read_text())


def app_database():
    """The app database for the api-server: the connection (environment, else the Airflow connection),
    never the embedded server (``include.core.db.server_app_database``; a missing one is an error)."""
    from include.core import db

    return db.server_app_database()


def read_app_db(nights: int = LEDGER_NIGHTS) -> AppDbState:
    from include.core import db
    from include.core import lease as pipeline_lock
    from include.migration import driver

    try:
        target = app_database()
        engine = db.app_engine(target.uri)
        with engine.connect() as conn:
            state = AppDbState(reachable=True, database=target.describe())
            state.revision = driver.current_revision(conn)
            has_schema = conn.execute(sa.text(
                "SELECT to_regclass('patient_pipeline.pipeline_lease') IS NOT NULL")).scalar()
            if not has_schema:
                conn.rollback()
                return state
            holder = pipeline_lock.holder(conn)
            if holder is not None:
                state.lease = {"dag_id": holder.dag_id, "run_id": holder.run_id,
                               "expires_in_s": int(holder.expires_in_s), "expired": holder.expires_in_s <= 0}
            state.migration_runs = [dict(r) for r in conn.execute(_sql("migration_runs"), {"limit": 10}).mappings()]
            state.ledger = [dict(r) for r in conn.execute(_sql("import_ledger_nights"), {"nights": nights}).mappings()]
            state.review_items = [dict(r) for r in conn.execute(_sql("open_review_items")).mappings()]
            state.quarantine = [dict(r) for r in conn.execute(_sql("quarantine_by_reason")).mappings()]
            if conn.execute(sa.text("SELECT to_regclass('patient_pipeline.match_run') IS NOT NULL")).scalar():
                state.queue_by_kind = [dict(r) for r in conn.execute(_sql("review_queue_by_kind")).mappings()]
                state.match_runs = [dict(r) for r in conn.execute(_sql("match_runs"), {"limit": 5}).mappings()]
            conn.rollback()
            return state
    except (db.AppDatabaseNotConfigured, db.AppDatabaseTLSError) as exc:  # configuration: say what to fix
        log.warning("app database not readable for the pipeline page: %s", exc)
        return AppDbState(reachable=False, error=str(exc))
    except sa.exc.OperationalError as exc:
        if isinstance(exc.orig, db.AppDatabaseTLSError):
            log.warning("app database not readable for the pipeline page: %s", exc.orig)
            return AppDbState(reachable=False, error=str(exc.orig))
        log.warning("app database not readable for the pipeline page: %s", type(exc).__name__)
        return AppDbState(reachable=False, error=f"{type(exc).__name__} (see the api-server log)")
    except (sa.exc.SQLAlchemyError, OSError, RuntimeError) as exc:  # the page still shows the Airflow side
        log.warning("app database not readable for the pipeline page: %s", type(exc).__name__)
        return AppDbState(reachable=False, error=f"{type(exc).__name__} (see the api-server log)")


def _report_status(dag_id: str, run_id: str) -> str | None:
    name = "night_summary.json" if dag_id == "clinic_patient_import" else "report.json"
    try:
        data = storage.read_json(dag_id, run_id, name)
    except (storage.ReportNotFound, storage.UnsafePath, ValueError):
        return None
    if dag_id == "clinic_patient_import":
        held = data.get("held_files") or []
        return "held files: " + ", ".join(map(str, held)) if held else "done"
    return str(data.get("status") or "")


def last_dag_runs(per_dag: int = RUNS_PER_DAG) -> dict[str, list[DagRunRow]]:
    """The newest runs of each pipeline DAG from Airflow's metadata DB, with their reports' status."""
    from airflow.models.dagrun import DagRun
    from airflow.utils.session import create_session

    out: dict[str, list[DagRunRow]] = {}
    with create_session() as session:
        for dag_id in storage.PIPELINE_DAGS:
            runs = session.scalars(sa.select(DagRun).where(DagRun.dag_id == dag_id)
                                   .order_by(DagRun.run_after.desc()).limit(per_dag)).all()
            out[dag_id] = [DagRunRow(dag_id, r.run_id, str(r.state), r.run_after, r.start_date, r.end_date)
                           for r in runs]
    for rows in out.values():
        for row in rows:
            row.report_status = _report_status(row.dag_id, row.run_id)
    return out
