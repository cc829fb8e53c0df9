"""End to end: the `patient_first_rollback` DAG through `dag.test()` on a migrated test database."""

from __future__ import annotations

import json
import stat

import pytest

from include.core import legacy_contract, run_report, settings
from include.rollback import archive, restore
from tests.rollback import helpers as h

pytestmark = pytest.mark.airflow


def test_the_dag_refuses_without_confirmation_then_rolls_back_to_the_baseline_losing_nothing(
        airflow_home, app_env, conn, capfd):
    from airflow.dag_processing.dagbag import DagBag

    dag = DagBag(dag_folder=str(settings.PROJECT_ROOT / "dags")).dags["patient_first_rollback"]
    h.build_migrated(conn)
    before = h.patients(conn)

    refused = dag.test(run_conf={"target_revision": settings.REV_BASELINE, "dry_run": False, "confirm": "yes",
                                      "require_approval": False})
    assert refused.state == "failed"
    assert h.revision(conn) == settings.REV_FINALIZE_INVITES and h.patients(conn) == before

    run = dag.test(run_conf={"target_revision": settings.REV_BASELINE, "dry_run": False, "confirm": "ROLLBACK",
                                  "require_approval": False})
    assert run.state == "success"
    assert h.revision(conn) == settings.REV_BASELINE and legacy_contract.differences(conn) == []
    assert h.patients(conn) == {}
    assert archive.archived_counts(conn, run.run_id) == {"patients": 4, "invite": 3, "chat_session": 3, "user": 3}
    assert restore.pending_archive(conn) == run.run_id

    folder = run_report.run_dir("patient_first_rollback", run.run_id)
    report = json.loads((folder / "report.json").read_text())
    assert report["status"] == "done" and all(g["passed"] for g in report["gates"]) and len(report["gates"]) == 4
    assert "confirm" not in report["params"]
    export = folder / "archive_export.ndjson"
    assert stat.S_IMODE(export.stat().st_mode) == 0o600

    out, err = capfd.readouterr()
    logs = out + err
    assert "patient_first_rollback" in logs and "confirm = ROLLBACK" in logs
    assert [s for s in h.PHI_SAMPLES if s in logs + (folder / "report.md").read_text()] == []
