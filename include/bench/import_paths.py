"""The import paths of BENCHMARKS.md, each timed on one copy of the import template database.

* :func:`naive_b2` - B2, what an engineer writes first: ``pandas.read_csv`` + ``DataFrame.to_sql(method="multi")``
  into ``patients``. No validation; only what the insert needs not to fail (ids, account, required names,
  no in-file duplicates, no identity key or external id that already exists, unparseable dates as NULL).
* :func:`copy_c0` - C0, the load ceiling: raw ``COPY`` of the file into an unindexed (unlogged) staging table.
* :func:`copy_insert_c1` - C1, the realistic ceiling: C0 + one ``INSERT ... SELECT ... ON CONFLICT DO NOTHING``
  into the indexed patients table, minimal transforms.
* :func:`project_p` - P, the project's ``import_file`` in a child process (spawned, so its peak RSS,
  ``ru_maxrss``, is the import's own and not the harness's).

``rows`` is always the number of data rows of the file the path read. Counts and seconds only.
"""

from __future__ import annotations

import resource
import shutil
import tempfile
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import psycopg
import sqlalchemy as sa

from include.bench.harness import run_in_child
from include.core import db
from include.core.errors import GenascopeError

#: The staging table of C0/C1 (unlogged, like the project's import_staging; no index).
STAGING_DDL = """
    CREATE UNLOGGED TABLE bench_clinic_staging (
        email text, first_name text, last_name text, phone text, external_id text, date_of_birth text
    )
"""
COPY_SQL = "COPY bench_clinic_staging (email, first_name, last_name, phone, external_id, date_of_birth) " \
           "FROM STDIN (FORMAT csv, HEADER true)"

#: C1's one set-based insert: trimmed names required, empty strings as NULL, a date only when it parses.
C1_INSERT = """
INSERT INTO patients (id, account_id, external_id, email, first_name, last_name, phone, date_of_birth, status,
                      created_at, updated_at)
SELECT gen_random_uuid()::text, %(account_id)s, nullif(btrim(s.external_id), ''), nullif(btrim(s.email), ''),
       btrim(s.first_name), btrim(s.last_name), left(nullif(btrim(s.phone), ''), 20),
       CASE WHEN {date_ok} THEN s.date_of_birth::date END, 'pending',
       now() AT TIME ZONE 'utc', now() AT TIME ZONE 'utc'
FROM bench_clinic_staging s
WHERE btrim(coalesce(s.first_name, '')) <> '' AND btrim(coalesce(s.last_name, '')) <> ''
ON CONFLICT DO NOTHING
"""
#: PostgreSQL 16+ can ask whether a text is a valid date; older servers get a conservative shape check.
DATE_OK_16 = "pg_input_is_valid(s.date_of_birth, 'date')"
DATE_OK_OLD = r"s.date_of_birth ~ '^\d{4}-(0[1-9]|1[0-2])-(0[1-9]|1\d|2[0-8])$'"

BLOCK = 1 << 20


class ImportBenchError(GenascopeError, RuntimeError):
    """A benchmark import path failed; the message names the path (never row values)."""


def _copy_file(conn: psycopg.Connection, path: Path) -> int:
    with conn.cursor() as cur:
        with cur.copy(COPY_SQL) as copy, open(path, "rb") as fh:
            while block := fh.read(BLOCK):
                copy.write(block)
        return cur.rowcount


def copy_c0(uri: str, path: Path) -> tuple[int, float]:
    """C0: COPY the file into an unindexed staging table. Returns (rows, seconds)."""
    with psycopg.connect(db.to_libpq_uri(uri), application_name="genascope_bench_c0") as conn:
        conn.execute(STAGING_DDL)
        conn.commit()
        started = time.perf_counter()
        rows = _copy_file(conn, path)
        conn.commit()
        return rows, time.perf_counter() - started


def copy_insert_c1(uri: str, path: Path, account_id: str) -> tuple[int, float, int]:
    """C1: COPY into staging + one INSERT ... SELECT into patients. Returns (rows, seconds, inserted)."""
    with psycopg.connect(db.to_libpq_uri(uri), application_name="genascope_bench_c1") as conn:
        conn.execute(STAGING_DDL)
        version = int(conn.execute("SHOW server_version_num").fetchone()[0])
        conn.commit()
        insert = C1_INSERT.format(date_ok=DATE_OK_16 if version >= 160000 else DATE_OK_OLD)
        started = time.perf_counter()
        rows = _copy_file(conn, path)
        inserted = conn.execute(insert, {"account_id": account_id}).rowcount
        conn.commit()
        return rows, time.perf_counter() - started, inserted


_B2_COLUMNS = ["id", "account_id", "external_id", "email", "first_name", "last_name", "phone", "date_of_birth",
               "status", "created_at", "updated_at"]


def naive_b2(uri: str, path: Path, account_id: str, max_rows: int | None = None,
             chunksize: int = 1000) -> tuple[int, float, int]:
    """B2: read_csv + to_sql(method="multi"). Returns (rows read, seconds, inserted)."""
    import pandas as pd

    engine = db.create_engine(uri)
    try:
        started = time.perf_counter()
        df = pd.read_csv(path, dtype=str, keep_default_na=False, nrows=max_rows)
        rows = len(df)
        for col in ("email", "first_name", "last_name", "phone", "external_id", "date_of_birth"):
            df[col] = df[col].str.strip()
        df = df[(df["first_name"] != "") & (df["last_name"] != "")].copy()
        df["k_email"], df["k_first"] = df["email"].str.lower(), df["first_name"].str.lower()
        df = df.drop_duplicates(["k_email", "k_first"])
        df = df[(df["external_id"] == "") | ~df.duplicated("external_id")]
        with engine.connect() as conn:
            existing = pd.read_sql(sa.text(
                "SELECT lower(btrim(email)) AS k_email, lower(btrim(first_name)) AS k_first FROM patients "
                "WHERE account_id = :a AND email IS NOT NULL"), conn, params={"a": account_id})
            known_ext = pd.read_sql(sa.text(
                "SELECT external_id FROM patients WHERE account_id = :a AND external_id IS NOT NULL"),
                conn, params={"a": account_id})
        keyed = df.merge(existing.assign(known=True), on=["k_email", "k_first"], how="left")
        df = keyed[keyed["known"].isna() & ~keyed["external_id"].isin(known_ext["external_id"])].copy()
        for col in ("email", "phone", "external_id"):
            df[col] = df[col].replace("", None)
        df["phone"] = df["phone"].str.slice(0, 20)
        df["date_of_birth"] = pd.to_datetime(df["date_of_birth"], format="%Y-%m-%d", errors="coerce")
        df["id"] = [str(uuid.uuid4()) for _ in range(len(df))]
        df["account_id"] = account_id
        df["status"] = "pending"
        df["created_at"] = df["updated_at"] = pd.Timestamp.now(tz="UTC").tz_localize(None)
        df[_B2_COLUMNS].to_sql("patients", engine, if_exists="append", index=False, method="multi",
                               chunksize=chunksize)
        return rows, time.perf_counter() - started, len(df)
    finally:
        engine.dispose()


# ------------------------------------------------------------------------------------------------ P


@dataclass
class ProjectImport:
    """P in a child process: the import's result (ids and counts), its time and the child's peak RSS."""

    rows: int
    seconds: float
    peak_rss_mb: float
    rss_before_import_mb: float
    result: dict[str, Any] = field(default_factory=dict)

    @property
    def counts_balance(self) -> bool:
        r = self.result
        return r.get("rows_read", -1) == sum(int(r.get(k, 0)) for k in
                                             ("inserted", "updated", "unchanged", "duplicates", "quarantined"))


def _peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0  # Linux: kilobytes


def _project_p_child(out: Any, uri: str, source_entry: dict[str, Any], location: str, run_id: str,
                     runs_dir: str) -> None:
    """Runs in the spawned child: import one file, report seconds, result and ru_maxrss through ``out``."""
    try:
        from include.core import settings
        from include.imports.file_import import import_file
        from include.imports.sources import source_from_dict

        settings.RUNS_DIR = Path(runs_dir)
        engine = db.create_engine(uri)
        before = _peak_rss_mb()
        started = time.perf_counter()
        result = import_file(engine, source_from_dict(source_entry), location, run_id=run_id)
        seconds = time.perf_counter() - started
        engine.dispose()
        out.put({"ok": True, "seconds": seconds, "result": result.as_xcom(), "peak_rss_mb": _peak_rss_mb(),
                 "rss_before_import_mb": before})
    except BaseException as exc:  # noqa: BLE001 - the parent re-raises with the type only (no values)
        out.put({"ok": False, "error": type(exc).__name__})


def bench_source(account_id: str, landing: Path) -> dict[str, Any]:
    """The benchmark's clinic source: platform header (default mapping), CSV, ISO dates, a temp landing."""
    for sub in ("incoming", "processed", "rejected"):
        (landing / sub).mkdir(parents=True, exist_ok=True)
    # The default reject limit (5%): the generated file has ~1% defective rows.
    return {"id": "bench-clinic-csv", "account_id": account_id, "format": "csv", "landing": str(landing),
            "date_formats": ["%Y-%m-%d"]}


def project_p(uri: str, path: Path, account_id: str, *, timeout_s: float = 3600) -> ProjectImport:
    """P: ``import_file`` on a copy of ``path`` in a spawned child process. Returns its timing and peak RSS."""
    work = Path(tempfile.mkdtemp(prefix="gs_bench_import_"))
    try:
        landing = work / "landing"
        entry = bench_source(account_id, landing)
        location = landing / "incoming" / path.name
        shutil.copyfile(path, location)
        msg = run_in_child(_project_p_child, (uri, entry, str(location), f"bench-import-{uuid.uuid4().hex[:8]}",
                                              str(work / "runs")), name="bench-import-p", timeout_s=timeout_s)
        if not msg.get("ok"):
            raise ImportBenchError(f"the project import (P) failed in its child process: {msg.get('error')}; "
                                   "run tests/imports to see why")
        result = msg["result"]
        return ProjectImport(rows=int(result.get("rows_read", 0)), seconds=float(msg["seconds"]),
                             peak_rss_mb=round(float(msg["peak_rss_mb"]), 1),
                             rss_before_import_mb=round(float(msg["rss_before_import_mb"]), 1), result=result)
    finally:
        shutil.rmtree(work, ignore_errors=True)
