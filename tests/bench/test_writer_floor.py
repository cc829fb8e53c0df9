"""W0, the writer bar's floor (issue 25): it writes the WAL volume it is given, in the given number of
batches of the given size, into its own table, over about the given time; and it takes no lock on an
application table (the writer's invites are untouched)."""

from __future__ import annotations

import time

import psycopg

from include.bench import writer_floor
from include.core import db


def test_w0_writes_the_target_wal_in_the_target_batches_into_its_own_table(fresh_db: str):
    # about 500 bytes of WAL per row, as P's batches write (a few hundred bytes per linked or created row)
    target = writer_floor.PWrites(wal_bytes=600_000, seconds=2.0, batches=12, window=(0.0, 0.0))

    started = time.perf_counter()
    result = writer_floor.run_w0(fresh_db, target, lanes=2, batch_size=100)
    wall = time.perf_counter() - started

    assert result.batches == 12
    assert 0.6 * target.wal_bytes <= result.wal_bytes <= 1.6 * target.wal_bytes, result
    assert wall >= 0.8 * target.seconds  # paced over the phase time, not written in one burst
    with psycopg.connect(db.to_libpq_uri(fresh_db)) as conn:
        rows = conn.execute("SELECT count(*), count(DISTINCT lane) FROM bench_w0_floor").fetchone()
        tables = conn.execute("SELECT count(*) FROM pg_stat_user_tables WHERE n_tup_ins > 0 "
                              "AND relname <> 'bench_w0_floor'").fetchone()[0]
    assert tuple(rows) == (1_200, 2)
    assert tables == 0  # no other table written


def test_p_writes_reads_the_phase_window_and_batches_from_the_checkpoints(fresh_db: str):
    with psycopg.connect(db.to_libpq_uri(fresh_db), autocommit=True) as conn:
        conn.execute("CREATE SCHEMA patient_pipeline")
        conn.execute("CREATE TABLE patient_pipeline.backfill_checkpoints (run_id text, batches int, "
                     "started_at timestamp, updated_at timestamp)")
        conn.execute("INSERT INTO patient_pipeline.backfill_checkpoints VALUES "
                     "('r', 3, TIMESTAMP '2026-01-01 10:00:00', TIMESTAMP '2026-01-01 10:00:30'), "
                     "('r', 4, TIMESTAMP '2026-01-01 10:00:10', TIMESTAMP '2026-01-01 10:01:00'), "
                     "('other', 99, TIMESTAMP '2026-01-01 09:00:00', TIMESTAMP '2026-01-01 11:00:00')")

    writes = writer_floor.p_writes(fresh_db, "r", 123)

    assert (writes.wal_bytes, writes.batches, writes.seconds) == (123, 7, 60.0)
    assert writes.window[0] == 1767261600.0  # 2026-01-01 10:00:00 UTC
