"""A task process killed (SIGKILL) after its COPY and before its merge: the rerun converges."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import sqlalchemy as sa

from include.core import settings
from include.imports import file_import
from tests.imports.db.conftest import TODAY, scalar

CHILD = """
import sys, datetime
from include.core import db
from include.core import settings
from include.imports.sources import load_sources
from include.imports import file_import
settings.RUNS_DIR = __import__("pathlib").Path(sys.argv[3])
source = load_sources()["clinic-north-csv"].with_overrides(
    id="clinic-test-csv", landing=sys.argv[2], column_mapping=None, date_formats=("%Y-%m-%d",), max_reject_ratio=0.5)
file_import.import_file(db.app_engine(sys.argv[1]), source, sys.argv[4], run_id="killed", today=datetime.date(2025, 6, 2))
"""


def test_sigkill_between_copy_and_merge_then_rerun_converges(import_db, csv_source, drop_csv, fresh_db, tmp_path):
    rows = [f"p{i}@example.com,First{i},Last{i},,MRN{i},1970-01-{1 + i % 28:02d}" for i in range(20_000)]
    path = drop_csv("big.csv", rows)
    env = {**os.environ, "PYTHONPATH": str(settings.PROJECT_ROOT)}
    child = subprocess.Popen([sys.executable, "-c", CHILD, fresh_db, str(Path(csv_source.landing_path())),
                              str(tmp_path / "runs"), path], env=env, stdout=subprocess.DEVNULL,
                             stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 120
        status = None
        while time.monotonic() < deadline and child.poll() is None:
            status = scalar(import_db, "SELECT max(status) FROM patient_pipeline.import_file")
            if status == "staged":
                break
            time.sleep(0.05)
        assert status == "staged", "the child should have staged the file"
        os.kill(child.pid, signal.SIGKILL)
        child.wait(timeout=30)
    finally:
        if child.poll() is None:
            child.kill()
    assert scalar(import_db, "SELECT count(*) FROM patients") == 0  # killed before the merge

    res = file_import.import_file(import_db, csv_source, path, run_id="rerun", today=TODAY)
    assert (res.status, res.rows_read, res.inserted, res.reconciled) == ("done", 20_000, 20_000, True)
    assert scalar(import_db, "SELECT count(*) FROM patients") == 20_000
    assert scalar(import_db, "SELECT attempts FROM patient_pipeline.import_file") == 2
    assert scalar(import_db, "SELECT count(*) FROM patient_pipeline.import_staging") == 0
    with import_db.connect() as conn:  # the killed session's account lock was released with its connection
        assert conn.execute(sa.text("SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' "
                                         "AND database = (SELECT oid FROM pg_database WHERE datname = current_database())")).scalar() == 0
