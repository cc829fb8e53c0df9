"""Pacing the backfill's lanes by the commit latency the application sees (off by default).

While the lanes run, both cores of a two-core database server are busy with their batches, and the
batches write a lot of WAL: an application commit then waits for a CPU and for its WAL flush. When
``BackfillOptions.throttle_factor`` is set, :class:`CommitLatencyThrottle` measures that the way an
application feels it (as gh-ost and pgroll do with their own load signals) and backs off:

* a heartbeat is the smallest durable commit: a transaction that takes a transaction id
  (``pg_current_xact_id()``) and commits with ``synchronous_commit`` on, so it waits for the CPU and the
  WAL flush like an application's write. The throttle commits one every ``SAMPLE_EVERY_S`` on its own
  connection, in its own thread, at times that do not depend on the batches (a heartbeat sent right
  after a lane's own batch would find that lane's core idle and see nothing);
* at the phase's start, before any lane runs, ``BASELINE_SAMPLES`` heartbeats give the idle latency;
* while the median of the last ``WINDOW`` heartbeats exceeds ``throttle_factor`` × the idle latency,
  the throttle first lets fewer lanes run (a lane above the allowed count waits before its next batch),
  then, down to one lane, pauses that lane before each batch (multiplicative increase, capped at
  ``MAX_PAUSE_S``); once the median is under the target the pause shrinks, and after
  ``RAISE_AFTER`` heartbeats under it one more lane may run again.

A busy application therefore slows the backfill, never stops it. It costs the pauses and lanes it
takes away (BENCHMARKS.md, "P throttled"); latencies only, nothing here reads rows.
"""

from __future__ import annotations

import logging
import statistics
import threading
import time
from collections import deque
from collections.abc import Iterator
from contextlib import contextmanager

import sqlalchemy as sa

log = logging.getLogger(__name__)

BASELINE_SAMPLES = 15
SAMPLE_EVERY_S = 0.1
WINDOW = 8
#: Heartbeats in a row under the target before one more lane may run again.
RAISE_AFTER = 30
#: The idle latency is never taken below this (a heartbeat that hits the OS cache would make any load
#: look like a multiple of it).
MIN_BASELINE_MS = 0.5
MAX_PAUSE_S = 2.0
FIRST_PAUSE_S = 0.02
GROW, SHRINK = 1.6, 0.6


def heartbeat_ms(conn: sa.Connection) -> float:
    """One durable empty commit on ``conn`` (outside any transaction); its latency in ms."""
    if conn.in_transaction():
        conn.commit()
    began = time.perf_counter()
    conn.exec_driver_sql("SELECT pg_current_xact_id()")
    conn.commit()
    return (time.perf_counter() - began) * 1000.0


class CommitLatencyThrottle:
    """One per phase: ``with throttle.running(engine):`` around the lanes; each lane calls
    ``before_batch(index, stop)`` before each batch."""

    def __init__(self, factor: float, lanes: int = 1) -> None:
        self.factor = float(factor)
        self.lanes = max(1, int(lanes))
        self.allowed = self.lanes
        self.idle_ms = 0.0
        self.pause_s = 0.0
        self.paused_s = 0.0
        self.pauses = 0
        self.lane_waits = 0
        self.samples = 0
        self._under = 0
        self._active = set(range(self.lanes))
        self._window: deque[float] = deque(maxlen=WINDOW)
        self._lock = threading.Lock()
        self._done = threading.Event()
        self._thread: threading.Thread | None = None

    @property
    def target_ms(self) -> float:
        return self.factor * self.idle_ms

    def baseline(self, conn: sa.Connection) -> None:
        samples = [heartbeat_ms(conn) for _ in range(BASELINE_SAMPLES)]
        self.idle_ms = max(MIN_BASELINE_MS, statistics.median(samples))
        log.info("throttle: idle commit latency %.2f ms, target %.2f ms (factor %.1f, %d lanes)", self.idle_ms,
                 self.target_ms, self.factor, self.lanes)

    def observe(self, latency_ms: float) -> None:
        """One heartbeat's latency: adjust the allowed lanes and the pause."""
        with self._lock:
            self.samples += 1
            self._window.append(latency_ms)
            if statistics.median(self._window) > self.target_ms:
                self._under = 0
                if self.allowed > 1 and len(self._window) == WINDOW:
                    self.allowed -= 1
                    self._window.clear()  # judge the new setting on its own heartbeats
                elif self.allowed == 1:
                    self.pause_s = min(MAX_PAUSE_S, max(FIRST_PAUSE_S, self.pause_s * GROW))
            else:
                self._under += 1
                self.pause_s = self.pause_s * SHRINK if self.pause_s > FIRST_PAUSE_S else 0.0
                if self._under >= RAISE_AFTER and self.allowed < self.lanes and not self.pause_s:
                    self.allowed += 1
                    self._under = 0
                    self._window.clear()

    def _rank(self, lane: int) -> int:
        """How many lanes below ``lane`` still run (a finished lane leaves its turn to the next)."""
        with self._lock:
            return sum(1 for other in self._active if other < lane)

    def lane_finished(self, lane: int) -> None:
        with self._lock:
            self._active.discard(lane)

    def before_batch(self, lane: int, stop: threading.Event) -> None:
        """Wait while this lane is above the allowed count, then for the current pause (the first lane only)."""
        waited = False
        while self._rank(lane) >= self.allowed and not stop.is_set() and not self._done.is_set():
            waited = True
            stop.wait(SAMPLE_EVERY_S)
        rank = self._rank(lane)
        with self._lock:
            self.lane_waits += int(waited)
            pause = self.pause_s if rank == 0 else 0.0
            if pause:
                self.pauses += 1
                self.paused_s += pause
        if pause:
            stop.wait(pause)

    def _sample(self, engine: sa.Engine) -> None:
        try:
            with engine.connect() as conn:
                while not self._done.wait(SAMPLE_EVERY_S):
                    self.observe(heartbeat_ms(conn))
        except Exception as exc:  # noqa: BLE001 - the throttle must never fail the backfill
            log.warning("throttle: heartbeats stopped (%s); the lanes run unthrottled", type(exc).__name__)
            with self._lock:
                self.allowed, self.pause_s = self.lanes, 0.0

    @contextmanager
    def running(self, engine: sa.Engine) -> Iterator[CommitLatencyThrottle]:
        with engine.connect() as conn:
            self.baseline(conn)
        self._thread = threading.Thread(target=self._sample, args=(engine,), name="backfill-throttle", daemon=True)
        self._thread.start()
        try:
            yield self
        finally:
            self._done.set()
            self._thread.join(timeout=10)

    def summary(self) -> dict[str, float]:
        return {"idle_ms": round(self.idle_ms, 3), "target_ms": round(self.target_ms, 3),
                "heartbeats": self.samples, "pauses": self.pauses, "paused_s": round(self.paused_s, 3),
                "lane_waits": self.lane_waits}
