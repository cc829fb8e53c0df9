"""`make demo` end to end (small), and the PHI rule on everything it and its DAG tasks logged."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import uuid

import psycopg
import pytest

from include import db, embedded_db, settings
from tests.imports.conftest import find_phi, sample_phi_tokens
from tests.phi import seeded_phi

pytestmark = pytest.mark.airflow


def test_demo_runs_end_to_end_and_its_logs_carry_no_phi(airflow_home, tmp_path):
    database = f"gs_demo_{uuid.uuid4().hex[:8]}"
    env = {k: v for k, v in os.environ.items() if k != db.ENV_CONN}
    env["GENASCOPE_RUNS_DIR"] = str(tmp_path / "runs")
    admin = embedded_db.start_server()
    try:
        proc = subprocess.run(
            [sys.executable, "-m", "include.demo", "--invites", "400", "--seed", "5", "--database", database],
            env=env, cwd=settings.PROJECT_ROOT, capture_output=True, text=True, timeout=1200)
        output = proc.stdout + proc.stderr
        assert proc.returncode == 0, output[-3000:]
        assert "status: dry run" in output and "status: done" in output
        assert "night summary:" in output and "clinic-north-csv:" in output
        assert "re-sent bulk: 1,000 unchanged, 0 inserted -> matched, no duplicate" in output
        log_path = re.search(r"Task logs of this demo: (\S+)", output).group(1)
        logs = open(log_path, encoding="utf-8", errors="replace").read()
        assert "patient_first_migration" in logs and "clinic_patient_import" in logs
        api_log = open(os.path.join(os.path.dirname(log_path), "api-server.log"), encoding="utf-8").read()
        assert "include.api.access POST /api/patients/bulk 200" in api_log
        everything = output + logs + api_log
        leaked = [s for s in seeded_phi(db.with_database(admin, database)) if s in everything]
        assert leaked == [], f"{len(leaked)} seeded PHI strings in the demo's output or task logs"
        assert find_phi(everything, sample_phi_tokens()) == []
    finally:
        with psycopg.connect(admin, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{database}" WITH (FORCE)')
