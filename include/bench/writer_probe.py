"""A concurrent application writer for the backfill benchmark (BENCHMARKS.md, backfill bars).

While the project's backfill runs, :class:`WriterProbe` plays the legacy application: a thread that, at a
fixed rate, alternately inserts a new pending invite and updates an existing invite's status. Every
operation is its own transaction on a session with ``lock_timeout`` set to the backfill's
``lock_timeout_ms``, and its latency (execute + commit) is recorded. The harness measures the same probe
on the same database copy for a few seconds before the backfill (the idle baseline) and compares p99s.

Only latencies and counts leave this module; the rows it writes are synthetic and never printed.
"""

from __future__ import annotations

import threading
import time
import uuid
from dataclasses import dataclass, field

import psycopg

from include.core import db
from include.core.errors import GenascopeError

#: SQLSTATE 55P03 lock_not_available: the operation waited ``lock_timeout`` and gave up.
LOCK_NOT_AVAILABLE = "55P03"

_INSERT = ("INSERT INTO invites (id, email, first_name, last_name, invite_token, clinician_id, status, "
           "created_at, updated_at) VALUES (%s, %s, 'Probe', %s, %s, %s, 'pending', now(), now())")
_UPDATE = "UPDATE invites SET status = %s, updated_at = now() WHERE id = %s"


class WriterProbeError(GenascopeError, RuntimeError):
    """The probe could not prepare (no clinician or no invite to update); seed the database first."""


def percentile(values: list[float], q: float) -> float:
    """Nearest-rank percentile (q in 0..100) of ``values``; 0.0 for an empty list."""
    if not values:
        return 0.0
    ordered = sorted(values)
    rank = max(1, min(len(ordered), int(-(-q * len(ordered) // 100))))
    return ordered[rank - 1]


@dataclass
class ProbeStats:
    """Latencies of one probe window, in milliseconds."""

    ops: int
    errors: int
    lock_timeouts: int
    p50_ms: float
    p99_ms: float
    max_ms: float
    seconds: float
    latencies_ms: list[float] = field(default_factory=list, repr=False)

    def as_dict(self) -> dict[str, float | int]:
        return {k: v for k, v in self.__dict__.items() if k != "latencies_ms"}


class WriterProbe:
    """``with WriterProbe(uri, rate, lock_timeout_ms) as probe: ...; stats = probe.stats()``.

    ``run_for(seconds)`` measures synchronously (the idle baseline); ``start()``/``stop()`` run it in a
    background thread around other work.
    """

    def __init__(self, uri: str, rate_per_s: float = 20.0, lock_timeout_ms: int = 2000, seed: int = 7) -> None:
        self.uri = db.to_libpq_uri(uri)
        self.interval = 1.0 / rate_per_s
        self.lock_timeout_ms = int(lock_timeout_ms)
        self.seed = seed
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._conn: psycopg.Connection | None = None
        self._latencies: list[float] = []
        self._times: list[float] = []  # wall-clock start (time.time()) of each operation, for windows
        self._error_times: list[float] = []  # the starts of the operations that hit lock_timeout
        self._errors = 0
        self._lock_timeouts = 0
        self._started = 0.0
        self._ended = 0.0
        self._n = 0
        self._clinician: str | None = None
        self._targets: list[str] = []
        self.failure: BaseException | None = None

    def __enter__(self) -> WriterProbe:
        self._conn = psycopg.connect(self.uri, application_name="genascope_bench_writer")
        self._conn.execute(f"SET lock_timeout = {self.lock_timeout_ms}")
        row = self._conn.execute(
            "SELECT id FROM users WHERE lower(role) = 'clinician' AND account_id IS NOT NULL ORDER BY id LIMIT 1"
        ).fetchone()
        self._clinician = row[0] if row else None
        # Update targets spread over the whole id range (the backfill links invites in id order).
        self._targets = [r[0] for r in self._conn.execute(
            "SELECT id FROM invites TABLESAMPLE SYSTEM (5) REPEATABLE (%s) LIMIT 2000", (self.seed,)).fetchall()]
        if not self._targets:
            self._targets = [r[0] for r in self._conn.execute("SELECT id FROM invites LIMIT 2000").fetchall()]
        self._conn.commit()
        if self._clinician is None or not self._targets:
            raise WriterProbeError("the writer probe needs a clinician with an account and existing invites; "
                                   "seed the benchmark database first")
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()
        if self._conn is not None:
            self._conn.close()
            self._conn = None

    # ------------------------------------------------------------------------------------------ running

    def _op(self) -> None:
        assert self._conn is not None
        self._n += 1
        n = self._n
        began = time.perf_counter()
        self._times.append(time.time())
        try:
            if n % 2:
                self._conn.execute(_INSERT, (str(uuid.uuid4()), f"probe{n}.{uuid.uuid4().hex[:8]}@example.invalid",
                                             f"W{n}", uuid.uuid4().hex, self._clinician))
            else:
                target = self._targets[(n // 2) % len(self._targets)]
                self._conn.execute(_UPDATE, ("sent" if (n // 2) % 2 else "pending", target))
            self._conn.commit()
        except psycopg.Error as exc:
            self._conn.rollback()
            self._errors += 1
            if getattr(exc, "sqlstate", None) == LOCK_NOT_AVAILABLE:
                self._lock_timeouts += 1
                self._error_times.append(self._times[-1])
        self._latencies.append((time.perf_counter() - began) * 1000.0)

    def _loop(self, until: float | None) -> None:
        self._started = time.perf_counter()
        next_at = self._started
        try:
            while not self._stop.is_set():
                now = time.perf_counter()
                if until is not None and now >= until:
                    break
                if now < next_at:
                    self._stop.wait(next_at - now)
                    continue
                self._op()
                next_at += self.interval
                if time.perf_counter() - next_at > 1.0:  # fell far behind (a long wait): do not burst
                    next_at = time.perf_counter()
        except BaseException as exc:  # noqa: BLE001 - reported by stats(), never swallowed silently
            self.failure = exc
        finally:
            self._ended = time.perf_counter()

    def reset(self) -> None:
        self._latencies, self._times, self._errors, self._lock_timeouts = [], [], 0, 0
        self._error_times = []
        self._stop.clear()

    def run_for(self, seconds: float) -> ProbeStats:
        """Measure synchronously for ``seconds`` (the idle baseline)."""
        self.reset()
        self._loop(time.perf_counter() + seconds)
        return self.stats()

    def start(self) -> None:
        self.reset()
        self._thread = threading.Thread(target=self._loop, args=(None,), name="bench-writer-probe", daemon=True)
        self._thread.start()

    def stop(self) -> ProbeStats:
        self._stop.set()
        if self._thread is not None:
            self._thread.join()
            self._thread = None
        return self.stats()

    def stats_between(self, start: float, end: float) -> ProbeStats:
        """The operations that started within [start, end] (``time.time()`` seconds): e.g. the window of the
        backfill's batched phases only, without its plan (which writes no WAL to speak of)."""
        if self.failure is not None:
            raise WriterProbeError(f"the writer probe stopped early ({type(self.failure).__name__})") from None
        lat = [x for t, x in zip(self._times, self._latencies, strict=False) if start <= t <= end]
        timeouts = sum(1 for t in self._error_times if start <= t <= end)
        return ProbeStats(ops=len(lat), errors=timeouts, lock_timeouts=timeouts,
                          p50_ms=round(percentile(lat, 50), 3), p99_ms=round(percentile(lat, 99), 3),
                          max_ms=round(max(lat, default=0.0), 3), seconds=round(max(0.0, end - start), 3),
                          latencies_ms=lat)

    def stats(self) -> ProbeStats:
        if self.failure is not None:
            raise WriterProbeError(f"the writer probe stopped early ({type(self.failure).__name__})") from None
        lat = list(self._latencies)
        return ProbeStats(ops=len(lat), errors=self._errors, lock_timeouts=self._lock_timeouts,
                          p50_ms=round(percentile(lat, 50), 3), p99_ms=round(percentile(lat, 99), 3),
                          max_ms=round(max(lat, default=0.0), 3),
                          seconds=round(max(0.0, self._ended - self._started), 3), latencies_ms=lat)
