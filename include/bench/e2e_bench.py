"""End to end (BENCHMARKS.md): the DAGs themselves, timed through ``airflow dags test``.

* the migration DAG (``patient_first_migration``, ``dry_run`` false: preflight, upgrades, backfill, gates,
  finalize, report) on a freshly seeded legacy database at the backfill's largest size;
* the nightly import (``clinic_patient_import``) of one clinic CSV of the import's largest size, on a
  copy of the import template (a migrated database with patients to match).

Each run is timed from the outside (the ``airflow dags test`` process: parsing, scheduling, every task)
and set next to the sum of its task durations as Airflow recorded them (``airflow tasks
states-for-dag-run``), so the orchestration overhead is visible, and next to the standalone part
benchmarks of the same size. Airflow's own metadata DB is the one of ``AIRFLOW_HOME`` (``make bench``
runs ``make airflow-db`` first); the application database is handed to the tasks through
``AIRFLOW_CONN_GENASCOPE_DB``. Counts and seconds only; task logs go to a file under ``runs/bench/``.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import asdict, dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import yaml

from include import seed as seeder
from include.bench import import_bench, import_paths
from include.bench.harness import (
    Server,
    Stopwatch,
    create_database,
    database_copy,
    drop_database,
    engine_for,
    say,
    unique_name,
    vacuum_analyze,
)
from include.core import alembic_driver, db, settings
from include.core.errors import GenascopeError

MIGRATION_DAG = "patient_first_migration"
IMPORT_DAG = "clinic_patient_import"
SOURCES_ENV = "GENASCOPE_CLINIC_SOURCES"


class E2EBenchError(GenascopeError, RuntimeError):
    """An end-to-end DAG run did not succeed (the task log file named in the message says why)."""


@dataclass
class E2ERun:
    dag_id: str
    size: str
    rows: int
    wall_seconds: float  # the `airflow dags test` process, start to exit
    tasks_seconds: float  # sum of the task durations Airflow recorded
    tasks: int
    state: str
    slowest: list[tuple[str, float]] = field(default_factory=list)  # (task id, seconds), longest first

    @property
    def overhead_seconds(self) -> float:
        return self.wall_seconds - self.tasks_seconds

    @property
    def rows_per_s(self) -> float:
        return self.rows / self.wall_seconds if self.wall_seconds else 0.0

    def as_dict(self) -> dict[str, Any]:
        return {**asdict(self), "overhead_seconds": round(self.overhead_seconds, 2),
                "rows_per_s": round(self.rows_per_s, 1)}


@dataclass
class E2EConfig:
    invites: int  # migration DAG: legacy invites seeded
    csv_rows: int  # nightly import: rows of the clinic CSV
    size_label: str = "L"
    import_template_invites: int = 20_000
    seed: int = 42


def _airflow(args: list[str], env: dict[str, str], log_path: Path | None = None,
             capture: bool = False) -> subprocess.CompletedProcess:
    cmd = [sys.executable, "-m", "airflow", *args]
    if capture:
        return subprocess.run(cmd, env=env, cwd=settings.PROJECT_ROOT, text=True, capture_output=True, check=True)
    assert log_path is not None
    with log_path.open("ab") as out:
        return subprocess.run(cmd, env=env, cwd=settings.PROJECT_ROOT, stdout=out, stderr=subprocess.STDOUT)


def _json_rows(text: str) -> list[dict[str, Any]]:
    """The JSON list an ``airflow … -o json`` command printed on one line (warnings may come before it)."""
    for line in reversed(text.splitlines()):
        if line.startswith("[") and line.rstrip().endswith("]"):
            try:
                return json.loads(line)
            except json.JSONDecodeError:
                continue
    return []


def _parse_ts(value: str | None) -> datetime | None:
    if not value:
        return None
    return datetime.fromisoformat(value.replace("Z", "+00:00"))


def _task_durations(dag_id: str, env: dict[str, str], started_after: float) -> tuple[str, list[tuple[str, float]]]:
    """(state of the newest run of ``dag_id`` begun after ``started_after``, [(task id, seconds)])."""
    runs = _json_rows(_airflow(["dags", "list-runs", dag_id, "-o", "json"], env, capture=True).stdout)
    begun = [(ts, r) for r in runs if (ts := _parse_ts(r.get("start_date"))) and ts.timestamp() >= started_after - 1]
    newest = max(begun, key=lambda pair: pair[0])[1] if begun else None
    if newest is None:
        raise E2EBenchError(f"no run of {dag_id} was recorded in Airflow's metadata DB")
    tis = _json_rows(_airflow(["tasks", "states-for-dag-run", dag_id, newest["run_id"], "-o", "json"],
                              env, capture=True).stdout)
    durations = []
    for ti in tis:
        begin, end = _parse_ts(ti.get("start_date")), _parse_ts(ti.get("end_date"))
        if begin and end:
            name = ti["task_id"] + (f"[{ti['map_index']}]" if str(ti.get("map_index", "-1")) not in ("-1", "") else "")
            durations.append((name, (end - begin).total_seconds()))
    return str(newest.get("state")), durations


def _timed_dag_test(dag_id: str, conf: dict[str, Any], env: dict[str, str], log_path: Path, size: str,
                    rows: int) -> E2ERun:
    started = time.time()
    watch = Stopwatch()
    proc = _airflow(["dags", "test", dag_id, "--conf", json.dumps(conf)], env, log_path)
    wall = watch.seconds
    if proc.returncode != 0:
        raise E2EBenchError(f"airflow dags test {dag_id} failed (exit {proc.returncode}); see {log_path}")
    state, durations = _task_durations(dag_id, env, started)
    if state != "success":
        raise E2EBenchError(f"the {dag_id} run ended {state}; see {log_path}")
    durations.sort(key=lambda d: d[1], reverse=True)
    run = E2ERun(dag_id, size, rows, round(wall, 2), round(sum(s for _, s in durations), 2), len(durations), state,
                 [(t, round(s, 2)) for t, s in durations[:5]])
    say(f"e2e {dag_id} {size}: {rows} rows, airflow dags test {run.wall_seconds:.1f}s, tasks {run.tasks_seconds:.1f}s "
        f"({run.tasks} task instances), overhead {run.overhead_seconds:.1f}s")
    return run


def _dag_env(uri: str, extra: dict[str, str] | None = None) -> dict[str, str]:
    return {**os.environ, "PYTHONPATH": str(settings.PROJECT_ROOT), db.ENV_CONN: uri, **(extra or {})}


def migration_run(server: Server, cfg: E2EConfig, log_path: Path) -> E2ERun:
    """The migration DAG on a fresh legacy database of ``cfg.invites`` invites (dropped afterwards)."""
    name = unique_name(f"e2e_migration_{cfg.size_label}")
    uri = create_database(server, name)
    try:
        watch = Stopwatch()
        engine = engine_for(uri)  # a private engine: the database is dropped afterwards
        try:
            with engine.connect() as conn:
                alembic_driver.upgrade(conn, settings.REV_BASELINE)
        finally:
            engine.dispose()
        seeder.generate(uri, cfg.invites, cfg.seed)
        vacuum_analyze(uri)
        say(f"e2e migration database: {cfg.invites} invites seeded in {watch.seconds:.1f}s")
        return _timed_dag_test(MIGRATION_DAG, {"dry_run": False, "require_approval": False}, _dag_env(uri), log_path, cfg.size_label,
                               cfg.invites)
    finally:
        drop_database(server, name)


def import_run(server: Server, cfg: E2EConfig, log_path: Path) -> E2ERun:
    """The nightly import DAG over one clinic CSV of ``cfg.csv_rows`` rows (its own source and landing)."""
    work = Path(tempfile.mkdtemp(prefix="gs_bench_e2e_"))
    template = None
    try:
        template, account, _ = import_bench.build_template(server, cfg.import_template_invites, cfg.seed)
        csv_path = work / f"clinic_{cfg.size_label}.csv"
        summary = seeder.write_clinic_csv(csv_path, cfg.csv_rows, cfg.seed, match_uri=server.uri(template),
                                          match_account_id=account)
        landing = work / "landing" / "bench-clinic"
        source = import_paths.bench_source(account, landing)
        shutil.copyfile(csv_path, landing / "incoming" / csv_path.name)
        sources_file = work / "clinic_sources.yaml"
        sources_file.write_text(yaml.safe_dump({"sources": [source], "landing_roots": [str(landing.parent)]}),
                                encoding="utf-8")
        with database_copy(server, template, f"e2e_import_{cfg.size_label}") as uri:
            env = _dag_env(uri, {SOURCES_ENV: str(sources_file)})
            # landing_root explicitly: a genascope_landing_root Variable of `make airflow` must not redirect it
            conf = {"source_ids": [source["id"]], "landing_root": str(landing.parent), "dry_run": False}
            return _timed_dag_test(IMPORT_DAG, conf, env, log_path, cfg.size_label, summary.rows)
    finally:
        if template:
            drop_database(server, template)
        shutil.rmtree(work, ignore_errors=True)


def run(server: Server, cfg: E2EConfig, log_dir: Path) -> list[E2ERun]:
    log_dir.mkdir(parents=True, exist_ok=True)
    log_path = log_dir / "airflow-task-logs.log"
    say(f"e2e: task logs in {log_path}")
    return [migration_run(server, cfg, log_path), import_run(server, cfg, log_path)]


__all__ = ["E2EBenchError", "E2EConfig", "E2ERun", "import_run", "migration_run", "run"]
