"""The metrics API every area calls (include/core/metrics.py) reaches a real OTLP receiver through Airflow's
metrics path, with the documented names and tags: gates, backfill progress, the identity matcher's pairs and
queue size. A metric never fails its caller when no backend is configured."""

from __future__ import annotations

import os
import subprocess
import sys

from include.core import settings
from tests.notify.conftest import notify_env

EMIT = """
from include.core import metrics
metrics.gate("all_invites_linked", False, dag_id="patient_first_migration")
metrics.backfill_progress("link_invites", 5000, 20000, 2500.0)
metrics.identity_pairs({"match": 7, "review": 3}, review_queue_size=11)
metrics.housekeeping({"run_files": 4}, action="removed", dry_run=True)
"""


def test_area_metrics_arrive_with_their_documented_names_and_tags(smtp_sink, metrics_sink):
    env = {**os.environ, "PYTHONPATH": str(settings.PROJECT_ROOT), **notify_env(smtp_sink, metrics_sink)}
    proc = subprocess.run([sys.executable, "-c", EMIT], env=env, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]

    assert metrics_sink.value("airflow.genascope.gate.passed", gate="all_invites_linked",
                              dag_id="patient_first_migration") == 0
    assert metrics_sink.value("airflow.genascope.gate.failed", gate="all_invites_linked") == 1
    assert metrics_sink.value("airflow.genascope.backfill.rows_done", phase="link_invites") == 5000
    assert metrics_sink.value("airflow.genascope.backfill.rows_total", phase="link_invites") == 20000
    assert metrics_sink.value("airflow.genascope.backfill.rows_per_s", phase="link_invites") == 2500
    assert metrics_sink.value("airflow.genascope.identity.pairs", decision="match") == 7
    assert metrics_sink.value("airflow.genascope.identity.review_queue") == 11
    assert metrics_sink.value("airflow.genascope.housekeeping.run_files", action="removed", dry_run="true") == 4


def test_without_a_metrics_backend_emitting_is_a_no_op():
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AIRFLOW__METRICS__", "OTEL_"))}
    env["PYTHONPATH"] = str(settings.PROJECT_ROOT)
    proc = subprocess.run([sys.executable, "-c", EMIT], env=env, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
