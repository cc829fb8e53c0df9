"""The benchmark harness end to end at tiny sizes on the embedded PostgreSQL (a smoke test, not a timed one).

Wide margins only: the real bars of BENCHMARKS.md are checked by `make bench` at L, where fixed costs
(planning, the GX gate, a child process) no longer dominate.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from include.bench.suite import run_smoke
from include.core import settings


@pytest.fixture(scope="module")
def smoke(tmp_path_factory: pytest.TempPathFactory) -> dict:
    tmp = tmp_path_factory.mktemp("bench")
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(settings, "RUNS_DIR", tmp / "runs")
        results = run_smoke(out=tmp / "BENCHMARKS.md")
    results["out"] = tmp / "BENCHMARKS.md"
    return results


def test_the_project_backfill_beats_the_per_row_loop_and_stays_near_the_ceiling(smoke):
    bf = smoke["backfill"]
    p, c1, c2, b0 = bf["p"]["M"], bf["c1"]["M"], bf["c2"]["M"], bf["b0"]["M"]
    assert p["rows"][0] >= c1["rows"][0] == c2["rows"][0] > 0  # P also links what the writer probe inserted
    assert p["rows_per_s"] > b0["rows_per_s"]
    assert p["rows_per_s"] >= 0.05 * c1["rows_per_s"]


def test_the_concurrent_writer_never_hits_the_lock_timeout(smoke):
    bf = smoke["backfill"]
    (busy,) = bf["writer_during_p"]["M"]
    assert busy["ops"] > 0 and busy["lock_timeouts"] == 0
    assert busy["max_ms"] < bf["lock_timeout_ms"]


def test_the_project_import_reconciles_its_counts_in_a_child_process(smoke):
    imp = smoke["import"]
    p = imp["p"]["M"]
    counts = p["extra"]["counts"]
    assert counts["rows_read"] == imp["csv"]["M"]["rows"] > 0
    assert counts["rows_read"] == (counts["inserted"] + counts["updated"] + counts["unchanged"]
                                   + counts["duplicates"] + counts["quarantined"])
    assert counts["inserted"] > 0 and counts["duplicates"] > 0 and counts["quarantined"] > 0
    assert 0 < p["extra"]["peak_rss_mb"][0] < 1500
    for path in ("b2", "c0", "c1"):
        (timing,) = imp[path].values()
        assert timing["rows_per_s"] > 0


def test_the_results_file_names_the_server_the_command_and_every_bar(smoke):
    text = Path(smoke["out"]).read_text()
    assert "PostgreSQL 18" in text or "PostgreSQL 1" in text
    assert "run_smoke()" in text
    for bar in smoke["bars"]:
        assert bar["name"] in text
    assert "| path | size | rows |" in text
    # the settings that change the numbers, and what the ceilings reach against the baselines (reported)
    assert "max_wal_size" in text and "shared_buffers" in text and "wal_writer_delay" in text
    assert "Ratios the spec reports without a bar" in text
    assert "| backfill C2 (M) / B0 (M) rows/s |" in text and "| import C1 (M) / B2 (M" in text
    # the writer's bar is the median of the trials' ratios, each trial listed
    assert "median of the trials' ratios" in text and "| P | M | 1 |" in text
    # the writer's bar against W0 (the same WAL into an unrelated table), its trial listed next to P's
    assert "writer p99 during P's phases / during W0 (M)" in text and "| M | 1 |" in text


def test_w0_follows_each_p_trial_with_p_s_batches(smoke):
    bf = smoke["backfill"]
    (run,) = bf["w0_runs"]["M"]
    assert run["p_batches"] > 0 and run["w0_batches"] == run["p_batches"]
    assert run["w0_wal_mb"] > 0 and run["p_wal_mb"] > 0
    (w0,) = bf["writer_during_w0"]["M"]
    assert w0["ops"] > 0 and w0["lock_timeouts"] == 0
