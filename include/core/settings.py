"""Project-wide constants and paths (no I/O at import time)."""

from __future__ import annotations

import os
from pathlib import Path

PROJECT_ROOT = Path(__file__).resolve().parents[2]
INCLUDE_DIR = PROJECT_ROOT / "include"
SQL_DIR = INCLUDE_DIR / "sql"
ALEMBIC_INI = PROJECT_ROOT / "alembic.ini"

#: Where the embedded PostgreSQL keeps its data (git-ignored).
EMBEDDED_PGDATA = Path(os.environ.get("GENASCOPE_EMBEDDED_PGDATA", PROJECT_ROOT / ".pgdata"))
#: Per-run folders (reports, Data Docs, exports).
RUNS_DIR = Path(os.environ.get("GENASCOPE_RUNS_DIR", PROJECT_ROOT / "runs"))

#: Airflow connection id and pool name of the application database.
APP_DB_CONN_ID = "genascope_db"
APP_DB_POOL = "genascope_db"

#: The pipeline's own bookkeeping schema (never an application table; survives rollbacks).
PIPELINE_SCHEMA = "patient_pipeline"

#: Advisory lock key shared by the migration, rollback and import DAGs (two int4 halves).
ADVISORY_LOCK_CLASS = 0x47454E41  # "GENA"
ADVISORY_LOCK_OBJECT = 1

REV_BASELINE = "20250526_legacy_baseline"
REV_CREATE_PATIENTS = "20250527_create_patients"
REV_UPDATE_INVITES = "20250528_update_invites"
REV_UPDATE_PATIENTS = "20250529_update_patients"
REV_FINALIZE_INVITES = "20250530_finalize_invites"

#: The runbook order of the upgrades (downgrades walk it backwards).
UPGRADE_ORDER = (
    REV_CREATE_PATIENTS,
    REV_UPDATE_INVITES,
    REV_UPDATE_PATIENTS,
    REV_FINALIZE_INVITES,
)
ALL_REVISIONS = (REV_BASELINE, *UPGRADE_ORDER)

LEGACY_TABLES = ("accounts", "users", "patient_profiles", "invites", "chat_sessions", "chat_messages")

#: Defaults for sessions that run DDL or bulk DML.
DEFAULT_LOCK_TIMEOUT_MS = int(os.environ.get("GENASCOPE_LOCK_TIMEOUT_MS", "2000"))
DEFAULT_STATEMENT_TIMEOUT_MS = int(os.environ.get("GENASCOPE_STATEMENT_TIMEOUT_MS", str(30 * 60 * 1000)))
DEFAULT_LOCK_RETRIES = int(os.environ.get("GENASCOPE_LOCK_RETRIES", "5"))
#: Rows per backfill batch. A batch holds the row locks of the invites (or chat sessions) it links
#: until it commits, so an application write to one of those rows waits for the batch: at 2,500 rows a
#: batch commits within ~0.1 s at 1M invites (10,000 made the concurrent writer of the benchmark wait up
#: to ~0.4 s on 0.5% of its writes, enough to lift its p99), for ~5% more backfill time.
DEFAULT_BATCH_SIZE = int(os.environ.get("GENASCOPE_BATCH_SIZE", "2500"))
#: Key-range lanes a backfill phase runs side by side (one connection each). A batch is CPU-bound in
#: its PostgreSQL backend, so one lane per database core is the sweet spot (two on the reference
#: machine); the migration DAG's phase tasks hold this many slots of the genascope_db pool.
DEFAULT_BACKFILL_LANES = int(os.environ.get("GENASCOPE_BACKFILL_LANES", "2"))
#: A phase is split into lanes only when each lane gets at least this many batches (small phases
#: run in one lane: starting a connection per lane would cost more than it saves).
DEFAULT_LANE_MIN_BATCHES = int(os.environ.get("GENASCOPE_LANE_MIN_BATCHES", "20"))
#: 0 = off: the backfill's batches are not paced. Else the factor over the idle commit latency that the
#: throttle keeps a durable commit within (include/backfill/throttle.py); it costs backfill throughput.
DEFAULT_THROTTLE_FACTOR = float(os.environ.get("GENASCOPE_BACKFILL_THROTTLE", "0"))
