"""W0, the writer benchmark's floor (BENCHMARKS.md, backfill Writer bar; issue 25).

While P's batches write, the application's commits wait on the same WAL and the same disk. How much of
the writer's tail is the design (row locks, CPU of the lanes, batch sizes) and how much is this machine's
disk? W0 answers the second part: it writes the same volume of WAL as P's batched phases wrote, into an
unrelated table (``bench_w0_floor``, no row the application touches, no lock the writer needs), with P's
lanes, batch size, batch count and commit settings (``synchronous_commit`` off per batch, the last one
synchronous; ``backend_flush_after`` as P's batches), paced over the same wall time. The writer probe's
p99 during P's phases over its p99 during W0 is the bar (≤ 1.5×, median of the trials).

Counts, bytes and seconds only; the rows W0 writes are filler and never read.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass

import psycopg

from include.core import db

#: As P's batches (include/backfill/phases.py _BATCH_SETTINGS): the commit settings that matter for WAL.
_BATCH_SETTINGS = ("SELECT set_config('synchronous_commit', 'off', true), "
                   "set_config('backend_flush_after', '256kB', true)")
_CREATE = ("CREATE TABLE IF NOT EXISTS bench_w0_floor (id bigserial PRIMARY KEY, lane integer NOT NULL, "
           "payload text NOT NULL)")
#: one batch: batch_size rows of a filler payload of :len characters (md5 text, so nothing compresses it)
_INSERT = ("INSERT INTO bench_w0_floor (lane, payload) "
           "SELECT %(lane)s, left(repeat(md5(random()::text), %(reps)s), %(len)s) FROM generate_series(1, %(n)s)")
#: bytes of WAL per inserted row besides its payload (record header, tuple header, index entry); only the
#: first guess, each lane corrects its payload size from the WAL it measures
_ROW_OVERHEAD = 120


@dataclass(frozen=True)
class PWrites:
    """What P's batched phases wrote: the target W0 reproduces."""

    wal_bytes: int
    seconds: float  # wall time of the batched phases (first checkpoint row to last)
    batches: int  # batches that wrote (all phases, all lanes)
    window: tuple[float, float]  # (start, end) of the batched phases, time.time() seconds


@dataclass(frozen=True)
class W0Result:
    wal_bytes: int  # the WAL W0's own INSERTs wrote (EXPLAIN ANALYZE's WAL bytes; commit records not counted)
    seconds: float
    batches: int


def wal_position(uri: str) -> int:
    """The server's current WAL insert position in bytes."""
    with psycopg.connect(db.to_libpq_uri(uri), autocommit=True) as conn:
        return int(conn.execute("SELECT pg_current_wal_insert_lsn() - '0/0'::pg_lsn").fetchone()[0])


def p_writes(uri: str, run_id: str, wal_bytes: int) -> PWrites:
    """P's batched phases from its checkpoint rows: their wall-time window and batch count."""
    with psycopg.connect(db.to_libpq_uri(uri), autocommit=True) as conn:
        row = conn.execute(
            "SELECT extract(epoch FROM min(started_at)), extract(epoch FROM max(updated_at)), "
            "coalesce(sum(batches), 0) FROM patient_pipeline.backfill_checkpoints WHERE run_id = %s",
            (run_id,)).fetchone()
    # the checkpoint columns are naive UTC (now() AT TIME ZONE 'utc'): their epoch is the UTC epoch
    start, end = float(row[0] or 0.0), float(row[1] or 0.0)
    return PWrites(wal_bytes, max(end - start, 0.0), int(row[2]), (start, end))


def run_w0(uri: str, target: PWrites, lanes: int, batch_size: int) -> W0Result:
    """Write ``target.wal_bytes`` of WAL into ``bench_w0_floor`` in ``target.batches`` batches of
    ``batch_size`` rows over ``lanes`` connections, paced to end after ``target.seconds``."""
    with psycopg.connect(db.to_libpq_uri(uri), autocommit=True) as conn:
        conn.execute(_CREATE)
        # no compression of a long payload (TOAST would shrink the filler and its WAL)
        conn.execute("ALTER TABLE bench_w0_floor ALTER COLUMN payload SET STORAGE EXTERNAL")
    batches = max(target.batches, 1)
    per_batch = max(target.wal_bytes / batches, 1.0)
    interval = target.seconds * lanes / batches if target.seconds else 0.0
    lane_batches = [batches // lanes + (1 if i < batches % lanes else 0) for i in range(lanes)]
    written = [0] * lanes
    failures: list[BaseException] = []
    wal = [0]
    lock = threading.Lock()

    def lane(index: int) -> None:
        try:
            with psycopg.connect(db.to_libpq_uri(uri), application_name="genascope_bench_w0") as conn:
                length = max(int(per_batch / batch_size) - _ROW_OVERHEAD, 1)
                started = time.perf_counter()
                for k in range(lane_batches[index]):
                    wait = started + k * interval - time.perf_counter()
                    if wait > 0:
                        time.sleep(wait)
                    conn.execute(_BATCH_SETTINGS)
                    if k == lane_batches[index] - 1:
                        conn.execute("SET LOCAL synchronous_commit = on")  # as P's last batch of a phase
                    # EXPLAIN ANALYZE runs the INSERT and reports the WAL this statement wrote (other sessions'
                    # WAL on the server does not count in, unlike a WAL position difference)
                    plan = conn.execute("EXPLAIN (ANALYZE, WAL, TIMING OFF, FORMAT JSON) " + _INSERT,
                                        {"lane": index, "reps": length // 32 + 1, "len": length,
                                         "n": batch_size}).fetchone()[0]
                    conn.commit()
                    node = (plan[0] if isinstance(plan, list) else plan)["Plan"]
                    with lock:
                        wal[0] += int(node.get("WAL Bytes", 0))
                        written[index] += 1
                        measured = max(wal[0] / sum(written), 1.0)
                    # steer the payload size towards P's WAL per batch
                    length = max(int(length * min(max(per_batch / measured, 0.5), 2.0) ** 0.5), 1)
        except BaseException as exc:  # noqa: BLE001 - re-raised by the caller
            failures.append(exc)

    t0 = time.perf_counter()
    threads = [threading.Thread(target=lane, args=(i,), name=f"bench-w0-{i}") for i in range(lanes)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    seconds = time.perf_counter() - t0
    if failures:
        raise failures[0]
    return W0Result(wal[0], round(seconds, 3), sum(written))
