"""The end-to-end benchmark at tiny sizes: both DAGs really run through `airflow dags test` on the embedded
PostgreSQL, their task durations are read back from Airflow, and the results table shows them (a smoke
test, not a timed one)."""

from __future__ import annotations

import psycopg
import pytest

from include.bench import e2e_bench, report
from include.bench.harness import DB_PREFIX, connect_server

pytestmark = pytest.mark.airflow


@pytest.fixture(scope="module")
def e2e(tmp_path_factory: pytest.TempPathFactory, airflow_home) -> tuple[list[e2e_bench.E2ERun], object]:
    tmp = tmp_path_factory.mktemp("e2e")
    server = connect_server(None)
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("GENASCOPE_RUNS_DIR", str(tmp / "runs"))  # the DAG processes write their reports here
        runs = e2e_bench.run(server, e2e_bench.E2EConfig(invites=400, csv_rows=300, size_label="S",
                                                         import_template_invites=400), tmp / "logs")
    return runs, server


def test_both_dags_ran_to_success_and_their_tasks_were_timed(e2e):
    runs, _ = e2e
    assert [(r.dag_id, r.size, r.rows, r.state) for r in runs] == [
        ("patient_first_migration", "S", 400, "success"), ("clinic_patient_import", "S", 300, "success")]
    migration, nightly = runs
    # every task group of the migration ran: preflight, schema, backfill, gates, finalize, report
    assert migration.tasks >= 20
    assert nightly.tasks >= 4  # discover, the mapped file task, the night summary, the lease release
    for r in runs:
        assert 0 < r.tasks_seconds < r.wall_seconds
        assert len(r.slowest) == 5 and r.slowest == sorted(r.slowest, key=lambda t: t[1], reverse=True)


def test_the_benchmark_databases_are_dropped_afterwards(e2e):
    _, server = e2e
    with psycopg.connect(server.admin_uri) as conn:
        left = conn.execute("SELECT datname FROM pg_database WHERE datname LIKE %s",
                            (f"{DB_PREFIX}_%e2e%",)).fetchall()
    assert left == []


def test_the_results_table_sets_each_run_next_to_its_tasks(e2e):
    runs, _ = e2e
    text = "\n".join(report._e2e(runs, None, None))
    assert "| patient_first_migration | S | 400 |" in text and "| clinic_patient_import | S | 300 |" in text
    assert "not run" in text  # no standalone part benchmark in this invocation
