"""`make demo` end to end (small), and the PHI and credential rules on everything it left behind: its
output, the task logs, every file under the runs root (reports, GX Data Docs, quarantine CSVs) and the
landing it laid out (the moved deliveries and their sidecars)."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import uuid

import psycopg
import pytest

from include.core import db, embedded_db, private_files, settings
from tests.imports.conftest import find_phi, sample_phi_tokens
from tests.phi import seeded_phi

pytestmark = pytest.mark.airflow


def test_demo_runs_end_to_end_and_its_logs_carry_no_phi(airflow_home, tmp_path):
    database = f"gs_demo_{uuid.uuid4().hex[:8]}"
    # As from a shell: no connection, and no task context left in this worker by an earlier dag.test()
    # (AIRFLOW_CTX_*), which would make the demo's API server act as if it ran inside an Airflow task.
    env = {k: v for k, v in os.environ.items() if k != db.ENV_CONN and not k.startswith("AIRFLOW_CTX_")}
    env["GENASCOPE_RUNS_DIR"] = str(tmp_path / "runs")
    admin = embedded_db.start_server()
    try:
        proc = subprocess.run(
            [sys.executable, "-m", "include.tools.demo", "--invites", "400", "--seed", "5", "--database", database],
            env=env, cwd=settings.PROJECT_ROOT, capture_output=True, text=True, timeout=1200)
        output = proc.stdout + proc.stderr
        assert proc.returncode == 0, output[-3000:]
        assert "status: dry run" in output and "status: done" in output
        assert '"require_approval": false' in output and "skips the two approvals" in output
        assert "night summary:" in output and "clinic-north-csv:" in output
        assert "re-sent bulk: 1,000 unchanged, 0 inserted -> matched, no duplicate" in output
        log_path = re.search(r"Task logs of this demo: (\S+)", output).group(1)
        logs = open(log_path, encoding="utf-8", errors="replace").read()
        assert "patient_first_migration" in logs and "clinic_patient_import" in logs
        api_log = open(os.path.join(os.path.dirname(log_path), "api-server.log"), encoding="utf-8").read()
        assert "include.api.access POST /api/patients/bulk 200" in api_log, api_log[-4000:]
        everything = output + logs + api_log
        leaked = [s for s in seeded_phi(db.with_database(admin, database)) if s in everything]
        assert leaked == [], f"{len(leaked)} seeded PHI strings in the demo's output or task logs"
        assert find_phi(everything, sample_phi_tokens()) == []

        runs = tmp_path / "runs"
        files = [p for p in runs.rglob("*") if p.is_file()]
        landing = [p for p in files if "landing" in p.relative_to(runs).parts]
        assert any(p.parent.name == "processed" for p in landing), "the demo's landing is under the runs root"
        assert any(p.name == "index.html" for p in files) and any(p.suffix == ".csv" for p in files)
        written = "".join(p.read_text(errors="replace") for p in files)
        seeded = seeded_phi(db.with_database(admin, database))
        assert [s for s in seeded if s in written] == [], "seeded PHI under the runs root or the landing"
        # reports, Data Docs and logs (the quarantine CSVs and deliveries hold the sample clinics' PHI by nature)
        not_phi_files = [p for p in files if p.suffix != ".csv" and p not in landing]
        assert find_phi("".join(p.read_text(errors="replace") for p in not_phi_files), sample_phi_tokens()) == []
        for credential in ("postgresql://", "postgresql+psycopg://", "postgres:@", "password"):
            assert credential not in written + everything, f"{credential!r} written by the demo"
        assert not [p for p in files if p.name == "great_expectations.yml"]
        assert {str(p): oct(private_files.mode_of(p)) for p in files if private_files.mode_of(p) != 0o600} == {}
        folders = [p for p in runs.rglob("*") if p.is_dir()]
        assert {str(p): oct(private_files.mode_of(p)) for p in folders if private_files.mode_of(p) != 0o700} == {}
    finally:
        with psycopg.connect(admin, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{database}" WITH (FORCE)')
