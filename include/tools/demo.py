"""`make demo`: the whole job end to end on the embedded PostgreSQL.

1. Schema walk: a small legacy database goes through the seed runbook with the exact commands
   (`python -m alembic upgrade 20250527_create_patients`, …, the backfill, `…30…`), printing the revision
   and the table summary after each step, then downgrades step by step back to the baseline.
2. Migration: the embedded app database `genascope` is reset, seeded with N synthetic legacy invites and
   migrated by the `patient_first_migration` DAG through `airflow dags test`: first dry, then for real.
3. Nightly import: `clinic_patient_import` over the three sample clinics.
4. Intake API: the API runs for a few seconds on the same database: one patient, a bulk of 1,000, the list,
   and the same bulk re-sent (matched, not duplicated). Its server log goes to runs/demo/<timestamp>/.

Everything it prints is counts, ids and revision ids. Task logs go to runs/demo/<timestamp>/.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

import psycopg

from include import cli
from include.core import alembic_driver, db, embedded_db, pipeline_dags, private_files, settings

PY = sys.executable


def banner(text: str) -> None:
    print(f"\n=== {text} ===", flush=True)


def reset_database(admin_uri: str, name: str) -> str:
    with psycopg.connect(admin_uri, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        conn.execute(f'CREATE DATABASE "{name}"')
    db._engine_for.cache_clear()
    return db.with_database(admin_uri, name)


def run(cmd: list[str], env: dict[str, str], log_path: Path | None = None) -> None:
    """Run a command; its output goes to ``log_path`` (task logs) or to the terminal."""
    if log_path is None:
        subprocess.run(cmd, env=env, check=True, cwd=settings.PROJECT_ROOT)
        return
    with private_files.open_private(log_path, "ab") as out:
        proc = subprocess.run(cmd, env=env, cwd=settings.PROJECT_ROOT, stdout=out, stderr=subprocess.STDOUT)
    if proc.returncode != 0:
        raise SystemExit(f"{' '.join(cmd[:4])} failed (exit {proc.returncode}); see {log_path}")


def db_summary(uri: str) -> None:
    with db.app_engine(uri).connect() as conn:
        cli.print_db_info(conn)


def schema_walk(admin_uri: str, env: dict[str, str], seed: int) -> None:
    from include import backfill
    from include import seed as seeder

    banner("1. Schema walk: the seed runbook's commands on a small legacy database")
    uri = reset_database(admin_uri, "genascope_schema_walk")
    walk_env = {**env, db.ENV_CONN: uri}
    alembic = [PY, "-m", "alembic"]
    run([*alembic, "upgrade", settings.REV_BASELINE], walk_env)
    seeder.generate(uri, 300, seed)
    db_summary(uri)
    for revision in settings.UPGRADE_ORDER:
        if revision == settings.REV_FINALIZE_INVITES:
            print("$ (runbook step 2: data migration) backfill", flush=True)
            with db.app_engine(uri).connect() as conn:
                backfill.run_all(conn, backfill.BackfillOptions(run_id="demo-schema-walk"))
        print(f"$ python -m alembic upgrade {revision}", flush=True)
        run([*alembic, "upgrade", revision], walk_env)
        db_summary(uri)
    for target in reversed(settings.ALL_REVISIONS[:-1]):
        print(f"$ python -m alembic -x patients_archived=yes downgrade {target}"
              "   (throw-away database: nothing to archive)", flush=True)
        run([*alembic, "-x", "patients_archived=yes", "downgrade", target], walk_env)
        db_summary(uri)


REPORT_FILES = {d.dag_id: d.report_file for d in (pipeline_dags.MIGRATION, pipeline_dags.IMPORT)}


def latest_report(dag_id: str, after: float) -> dict | None:
    folders = [p for p in (settings.RUNS_DIR / dag_id).glob("*") if p.is_dir() and p.stat().st_mtime >= after]
    for folder in sorted(folders, key=lambda p: p.stat().st_mtime, reverse=True):
        report = folder / REPORT_FILES.get(dag_id, "report.json")
        if report.exists():
            return {"folder": str(folder), **json.loads(report.read_text())}
    return None


def dags_test(dag_id: str, conf: dict, env: dict[str, str], log_path: Path) -> dict | None:
    started = time.time()
    print(f"$ airflow dags test {dag_id} --conf '{json.dumps(conf)}'   (task logs: {log_path})", flush=True)
    t0 = time.monotonic()
    run([PY, "-m", "airflow", "dags", "test", dag_id, "--conf", json.dumps(conf)], env, log_path)
    report = latest_report(dag_id, started)
    print(f"  finished in {time.monotonic() - t0:.1f}s", flush=True)
    return report


def print_summary(report: dict | None) -> None:
    if not report:
        print("  (no report found)")
        return
    if "sources" in report:  # the nightly import's summary
        print(f"  night summary: {report['folder']}/night_summary.md")
        for source_id, counts in sorted(report["sources"].items()):
            print(f"  {source_id}: " + ", ".join(f"{k}={v}" for k, v in counts.items()
                                                 if not isinstance(v, (dict, list)) and k != "account_id"))
            for reason, n in sorted((counts.get("quarantined_by_reason") or {}).items()):
                print(f"      quarantined {reason}: {n}")
        return
    print(f"  status: {report.get('status')}   report: {report['folder']}/report.md")
    for key, value in (report.get("summary") or {}).items():
        print(f"  {key:<28} {value}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m include.tools.demo", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--invites", type=int, default=50_000)
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--skip-walk", action="store_true")
    parser.add_argument("--skip-import", action="store_true")
    parser.add_argument("--skip-api", action="store_true")
    parser.add_argument("--database", default=embedded_db.APP_DATABASE,
                        help="database on the embedded server to reset and migrate (default: the app database)")
    args = parser.parse_args(argv)

    if os.environ.get(db.ENV_CONN):  # never reset a configured (possibly production) database
        print(f"{db.ENV_CONN} is set: the demo resets its database, so it only runs on the embedded PostgreSQL. "
              f"Unset {db.ENV_CONN} to run it.", file=sys.stderr)
        return 2
    from include import seed as seeder

    admin_uri = embedded_db.start_server()
    print(f"app database: embedded PostgreSQL under {settings.EMBEDDED_PGDATA} (socket only)")
    log_dir = private_files.ensure_dir(settings.RUNS_DIR / "demo" / datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ"),
                                       within=settings.RUNS_DIR)
    env = {**os.environ, "PYTHONPATH": str(settings.PROJECT_ROOT)}

    if not args.skip_walk:
        schema_walk(admin_uri, env, args.seed)

    banner(f"2. Migration DAG on {args.invites:,} synthetic legacy invites")
    uri = reset_database(admin_uri, args.database)
    env[db.ENV_CONN] = uri  # the DAG runs below use exactly this database
    with db.app_engine(uri).connect() as conn:
        alembic_driver.upgrade(conn, settings.REV_BASELINE)
    summary = seeder.generate(uri, args.invites, args.seed)
    print(f"seeded: {summary.table_counts()}")
    db_summary(uri)
    log_path = log_dir / "airflow-task-logs.log"
    print_summary(dags_test("patient_first_migration", {"dry_run": True}, env, log_path))
    print("require_approval: false: the demo runs unattended, so the real run skips the two approvals "
          "(plan, finalize) a real migration waits for in the Airflow UI", flush=True)
    print_summary(dags_test("patient_first_migration", {"dry_run": False, "require_approval": False}, env, log_path))
    db_summary(uri)

    if not args.skip_import and (settings.PROJECT_ROOT / "dags" / "clinic_patient_import.py").exists():
        banner("3. Nightly clinic import over the sample clinics")
        from include.imports import demo_support
        from include.imports import landing as landing_module

        landing = demo_support.prepare_demo_landing(uri, log_dir / "landing")
        # the demo's landing lies in its own run folder: allow exactly that root for its run
        env[landing_module.LANDING_ROOTS_ENV] = str(landing)
        print_summary(dags_test("clinic_patient_import", {"landing_root": str(landing), "dry_run": False},
                                env, log_path))
    if not args.skip_api:
        banner("4. Patient intake API on the same engine")
        from include.api import demo as api_demo

        api_demo.run(uri, log_dir)
    print(f"\nTask logs of this demo: {log_path}")
    print_next_steps()
    return 0


def print_next_steps() -> None:
    """Where to look next, once the demo has run (the last thing it prints)."""
    print("\nWhere to look next:\n"
          "  make airflow        the Airflow UI on http://127.0.0.1:8080 (user admin; it prints where to sign in):\n"
          "                      each DAG's Trigger form, a run's Report tab, the Patient pipeline page\n"
          "  make api            the patient intake API on http://127.0.0.1:8000/docs\n"
          "  docs/ui-guide.md    what the forms ask, what the Report tab and the pipeline page show\n"
          "  runs/               the reports of every run (report.md, night_summary.md)", flush=True)


if __name__ == "__main__":
    sys.exit(main())
