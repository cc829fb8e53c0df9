"""``make bench-scale``'s per-size run at a tiny size on the embedded server: P in a spawned child,
its peak RSS, the database's temporary-file counters and the template dropped afterwards."""

from __future__ import annotations

from include.bench import harness, scale_bench


def test_one_size_runs_p_in_a_child_and_reports_counts_rss_and_temp_usage():
    server = harness.connect_server()
    run = scale_bench.run_size(server, "tiny", 2_000, 42)
    assert run.invites == 2_000 and run.rows >= 2_000  # P covers every invite (quarantined ones included)
    assert run.seconds > 0 and run.us_per_invite > 0
    assert 50 < run.peak_rss_mb < 2_000
    assert run.temp_files >= 0 and run.temp_bytes >= 0
    assert run.wal_bytes > 0 and run.db_bytes_after > run.db_bytes_before > 0  # what sizing for 10M needs
    assert set(run.phases) == {"create_patients", "link_invites", "link_users", "link_chat_sessions"}
    with server.admin() as conn:
        left = conn.execute("SELECT count(*) FROM pg_database WHERE datname LIKE %s",
                            (f"{harness.DB_PREFIX}_%scale_tiny%",)).fetchone()[0]
    assert left == 0
