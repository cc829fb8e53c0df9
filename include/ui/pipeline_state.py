"""What the "Patient pipeline" page shows, read from the app database and Airflow's metadata DB.

Counts, ids, revision ids, statuses and times only: nothing here reads a name, an e-mail or a
quarantined row's values. Every read is a plain SELECT (``include/sql/ui/*.sql``); a database the
pipeline has not touched yet (no ``patient_pipeline`` schema) reads as empty, not as an error.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import datetime
from types import SimpleNamespace
from typing import Any

import sqlalchemy as sa

from include.core import pipeline_dags, sql_files
from include.core.errors import UnsafePath
from include.ui import run_files

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


def app_database():
    """The app database for the api-server: the connection (environment, else the Airflow connection),
    never the embedded server (``include.core.db.server_app_database``; a missing one is an error)."""
    from include.core import db

    return db.server_app_database()


def read_app_db(nights: int = LEDGER_NIGHTS) -> AppDbState:
    from include.core import alembic_driver, db
    from include.core import lease as pipeline_lock

    try:
        target = app_database()
        engine = db.app_engine(target.uri)
        with engine.connect() as conn:
            state = AppDbState(reachable=True, database=target.describe())
            state.revision = alembic_driver.current_revision(conn)
            has_schema = conn.execute(sa.text(
                "SELECT to_regclass('patient_pipeline.pipeline_lease') IS NOT NULL")).scalar()
            if not has_schema:
                conn.rollback()
                return state
            holder = pipeline_lock.holder(conn)
            if holder is not None:
                state.lease = {"dag_id": holder.dag_id, "run_id": holder.run_id,
                               "expires_in_s": int(holder.expires_in_s), "expired": holder.expires_in_s <= 0}
            state.migration_runs = [dict(r) for r in conn.execute(sql_files.statement("ui", "migration_runs"), {"limit": 10}).mappings()]
            state.ledger = [dict(r) for r in conn.execute(sql_files.statement("ui", "import_ledger_nights"), {"nights": nights}).mappings()]
            has_view = conn.execute(sa.text("SELECT to_regclass('patient_pipeline.review_queue') IS NOT NULL")).scalar()
            state.review_items = [dict(r) for r in conn.execute(
                sql_files.statement("ui", "open_review_queue_items" if has_view else "open_review_items")).mappings()]
            state.quarantine = [dict(r) for r in conn.execute(sql_files.statement("ui", "quarantine_by_reason")).mappings()]
            if conn.execute(sa.text("SELECT to_regclass('patient_pipeline.match_run') IS NOT NULL")).scalar():
                state.queue_by_kind = [dict(r) for r in conn.execute(sql_files.statement("ui", "review_queue_by_kind")).mappings()]
                state.match_runs = [dict(r) for r in conn.execute(sql_files.statement("ui", "match_runs"), {"limit": 5}).mappings()]
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
    dag = pipeline_dags.get(dag_id)
    if dag is None:
        return None
    try:
        data = run_files.read_json(dag_id, run_id, dag.report_file)
    except (run_files.ReportNotFound, UnsafePath, ValueError):
        return None
    if dag.kind == "import":
        held = data.get("held_files") or []
        names = data.get("file_names") or {}
        if held:
            return "held: " + ", ".join(f"{names.get(str(f), 'file')} ({f})" for f in held)
        if data.get("nothing_imported"):
            return "no file imported"
        return "done"
    if dag.kind == "stewardship":
        return str(data.get("status") or ("dry run" if data.get("dry_run") else "done"))
    return str(data.get("status") or "")


def paused_dags() -> list[str]:
    """The pipeline DAGs that are paused (Airflow creates DAGs paused: the nightly import does not run then)."""
    from airflow.models.dag import DagModel
    from airflow.utils.session import create_session

    with create_session() as session:
        return sorted(session.scalars(sa.select(DagModel.dag_id).where(
            DagModel.dag_id.in_(pipeline_dags.DAG_IDS), DagModel.is_paused.is_(True))).all())


def existing_runs(dag_id: str, run_ids: list[str]) -> set[str]:
    """Which of ``run_ids`` are runs of ``dag_id`` Airflow knows (ledger rows also come from the intake API
    and the CLI, whose ``api:…``/``cli__…`` ids are no Airflow runs)."""
    from airflow.models.dagrun import DagRun
    from airflow.utils.session import create_session

    if not run_ids:
        return set()
    with create_session() as session:
        return set(session.scalars(sa.select(DagRun.run_id).where(DagRun.dag_id == dag_id,
                                                                   DagRun.run_id.in_(run_ids))).all())


@dataclass
class RunOutcome:
    """A run as Airflow knows it, for a Report tab that has no report (yet): its state, the tasks waiting
    for an approval, and why tasks failed (the XCom ``failure`` each failed task left; ids and codes only)."""

    exists: bool
    state: str = ""
    awaiting: list[str] = field(default_factory=list)
    failures: list[dict[str, str]] = field(default_factory=list)
    failed_without_reason: list[str] = field(default_factory=list)


def run_outcome(dag_id: str, run_id: str) -> RunOutcome:
    from airflow.models.dagrun import DagRun
    from airflow.models.taskinstance import TaskInstance
    from airflow.models.xcom import XComModel
    from airflow.utils.session import create_session

    from include.core.failures import FAILURE_KEY, WATCHER_TASK_ID

    with create_session() as session:
        run = session.scalars(sa.select(DagRun).where(DagRun.dag_id == dag_id, DagRun.run_id == run_id)).first()
        if run is None:
            return RunOutcome(exists=False)
        tis = session.execute(sa.select(TaskInstance.task_id, TaskInstance.state).where(
            TaskInstance.dag_id == dag_id, TaskInstance.run_id == run_id)).all()
        rows = session.execute(sa.select(XComModel.task_id, XComModel.value).where(
            XComModel.dag_id == dag_id, XComModel.run_id == run_id, XComModel.key == FAILURE_KEY)).all()
        out = RunOutcome(exists=True, state=str(run.state or ""))
    for task_id, value in rows:
        value = XComModel.deserialize_value(SimpleNamespace(value=value))
        if isinstance(value, dict) and value.get("reason_code") and task_id != WATCHER_TASK_ID:
            out.failures.append({"task_id": str(value.get("task_id") or task_id),
                                 "reason_code": str(value["reason_code"]), "message": str(value.get("message") or "")})
    explained = {f["task_id"] for f in out.failures}
    for task_id, state in tis:
        if str(state) == "awaiting_input":
            out.awaiting.append(task_id)
        elif str(state) == "failed" and task_id not in explained and task_id != WATCHER_TASK_ID:
            out.failed_without_reason.append(task_id)
    out.awaiting.sort()
    out.failed_without_reason.sort()
    return out


def last_dag_runs(per_dag: int = RUNS_PER_DAG) -> dict[str, list[DagRunRow]]:
    """The newest runs of each pipeline DAG from Airflow's metadata DB, with their reports' status."""
    from airflow.models.dagrun import DagRun
    from airflow.utils.session import create_session

    out: dict[str, list[DagRunRow]] = {}
    with create_session() as session:
        for dag_id in pipeline_dags.DAG_IDS:
            runs = session.scalars(sa.select(DagRun).where(DagRun.dag_id == dag_id)
                                   .order_by(DagRun.run_after.desc()).limit(per_dag)).all()
            out[dag_id] = [DagRunRow(dag_id, r.run_id, str(r.state), r.run_after, r.start_date, r.end_date)
                           for r in runs]
    for rows in out.values():
        for row in rows:
            row.report_status = _report_status(row.dag_id, row.run_id)
    return out
