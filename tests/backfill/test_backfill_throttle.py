"""The commit-latency throttle: it measures real durable commits, paces lanes while they are slow and
lets go once they are fast again; a throttled backfill writes exactly what an unthrottled one writes."""

from __future__ import annotations

import threading

from include.backfill import BackfillOptions, throttle
from tests.backfill.legacy_rows import backfill, invite_links, patients


def test_a_throttled_backfill_measures_its_commits_and_writes_the_same(conn, legacy):
    for n in range(30):
        legacy.invite(f"i{n:02d}", f"p{n}@x.test", f"P{n}", "Smith")
    result = backfill(conn, batch_size=4, throttle_factor=2.0, lanes=2, lane_min_batches=1)
    assert result.complete
    create = {p.phase: p for p in result.phases}["create_patients"]
    assert create.lanes == 2
    assert create.throttle is not None and create.throttle["idle_ms"] >= throttle.MIN_BASELINE_MS
    assert abs(create.throttle["target_ms"] - 2.0 * create.throttle["idle_ms"]) < 0.01  # both rounded to 3 places
    assert len(patients(conn)) == 30 and all(invite_links(conn).values())


def test_a_heartbeat_is_a_durable_commit_of_the_connection(conn):
    assert throttle.heartbeat_ms(conn) > 0
    assert not conn.in_transaction()


def test_slow_commits_take_lanes_away_then_pause_and_fast_commits_give_them_back():
    t = throttle.CommitLatencyThrottle(2.0, lanes=2)
    t.idle_ms = 1.0
    for _ in range(throttle.WINDOW):
        t.observe(10.0)
    assert (t.allowed, t.pause_s) == (1, 0.0)  # first fewer lanes
    pauses = []
    for _ in range(6):
        t.observe(10.0)
        pauses.append(t.pause_s)
    assert pauses[0] == throttle.FIRST_PAUSE_S and pauses[-1] > pauses[0]  # then pauses, growing
    assert max(pauses) <= throttle.MAX_PAUSE_S
    for _ in range(throttle.WINDOW + throttle.RAISE_AFTER + 20):
        t.observe(1.0)
    assert (t.allowed, t.pause_s) == (2, 0.0)  # fast again: both lanes, no pause


def test_a_lane_waits_only_while_a_lower_lane_still_runs():
    t = throttle.CommitLatencyThrottle(2.0, lanes=2)
    t.allowed = 1
    stop = threading.Event()
    waited = threading.Event()

    def second_lane():
        t.before_batch(1, stop)
        waited.set()

    runner = threading.Thread(target=second_lane)
    runner.start()
    assert not waited.wait(0.3)  # lane 0 runs, only one lane is allowed
    t.lane_finished(0)
    assert waited.wait(2.0)  # lane 0 is done: lane 1 takes its turn
    runner.join()
    assert t.lane_waits == 1
    try:
        BackfillOptions(run_id="r", throttle_factor=0.5)
    except ValueError as exc:
        assert "throttle_factor" in str(exc)
    else:
        raise AssertionError("a factor below 1 must be refused")
