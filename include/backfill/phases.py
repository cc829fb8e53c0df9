"""The batched, resumable phases of the backfill: create_patients, link_invites, link_users,
link_chat_sessions. Each batch is one statement in one short transaction that also advances the
phase's checkpoint, so a killed run resumes right after its last committed batch."""

from __future__ import annotations

import logging
import threading
import time
from concurrent.futures import ThreadPoolExecutor, wait
from contextlib import ExitStack
from dataclasses import dataclass

import sqlalchemy as sa

from include.backfill import sqlfiles
from include.backfill.models import BackfillOptions, PhaseResult
from include.backfill.planner import require_plan
from include.backfill.throttle import CommitLatencyThrottle
from include.backfill.transactions import in_short_transaction, start_clean
from include.core import locks, metrics

log = logging.getLogger(__name__)

CREATE_PATIENTS = "create_patients"
LINK_INVITES = "link_invites"
LINK_USERS = "link_users"
LINK_CHAT_SESSIONS = "link_chat_sessions"

#: The plan summary's count of the rows each phase walks (its batches' keyset), for progress lines.
_PLANNED_KEY = {
    CREATE_PATIENTS: "patients_to_create",
    LINK_INVITES: "invites_to_link",
    LINK_USERS: "users_to_walk",  # the users create_patients did not link (plan_11b)
    LINK_CHAT_SESSIONS: "chats_to_link",
}

#: A running phase logs one progress line (counts, rate, time left; never row contents) this often.
PROGRESS_EVERY_S = 15.0

_BATCH_SQL = {
    CREATE_PATIENTS: "create_patients_batch",
    LINK_INVITES: "link_invites_batch",
    LINK_USERS: "link_users_batch",
    LINK_CHAT_SESSIONS: "link_chat_sessions_batch",
}


#: Per-batch planner and commit settings (SET LOCAL: they end with the batch's transaction).
#: * Every join of a batch statement is driven by the batch's own rows (at most batch_size keys), so
#:   nested-loop index probes are right at any table size; hash and merge joins would scan the whole
#:   (growing) patients/invites/chat_sessions tables once per batch, which is quadratic over a run.
#:   Sequential scans likewise: right after the upgrade the statistics say ``patients`` is empty, and
#:   the first batch would otherwise scan the table once per batch row instead of probing an index.
#: * jit off: a batch is short; JIT compilation costs tens of ms per batch and buys nothing.
#: * work_mem 64MB: the batch's CTE rows (up to batch_size wide plan rows) stay in memory instead of
#:   spilling to temporary files.
#: * synchronous_commit off: a commit returns before its WAL is flushed. Safe here because the batch
#:   and its checkpoint commit together: a commit lost in a server crash loses the checkpoint too, and
#:   the resumed phase simply redoes that batch (every batch statement is idempotent). WAL is flushed
#:   in order, so nothing committed later (by the pipeline or the application) can survive without it.
#:   The last batch of a phase (the one that marks it done) commits synchronously, so a phase that
#:   returned complete is durable before the next phase or task starts.
#: * backend_flush_after 256kB: the data pages this session writes out (evicting dirty buffers) are
#:   handed to the kernel's writeback every 256kB instead of piling up in the page cache until the
#:   kernel flushes them in one burst; during such a burst every application commit's WAL fsync
#:   queues behind it (the concurrent writer's p99 during create_patients 9.8 -> 3.9 ms in one profiled
#:   run; such single-run p99s vary ~2x on a shared machine).
_BATCH_SETTINGS = sa.text(
    "SELECT set_config('enable_hashjoin', 'off', true), set_config('enable_mergejoin', 'off', true), "
    "set_config('enable_seqscan', 'off', true), "
    "set_config('jit', 'off', true), set_config('work_mem', '64MB', true), "
    "set_config('synchronous_commit', 'off', true), set_config('backend_flush_after', '256kB', true)")


def _run_batch(conn: sa.Connection, stmt: sa.TextClause, params: dict[str, object]) -> tuple[int, str | None, int]:
    """One batch statement in the caller's transaction; returns (scanned, last key, rows written)."""
    conn.execute(_BATCH_SETTINGS)
    scanned, new_key, written = conn.execute(stmt, params).one()
    if scanned < params["batch_size"]:
        conn.exec_driver_sql("SET LOCAL synchronous_commit = on")  # the phase's last batch: durable
    return int(scanned), new_key, int(written)


#: Each phase's keyset: the plan table and key column its batches walk, and the rows they select. The
#: lanes split this key range; the plan tables do not change after the plan is made, so the split
#: computed from them is the same on every resume.
#: link_invites and link_chat_sessions walk ``walk_key``: the heap block of the row they update (at plan
#: time) then its id, so consecutive batches update consecutive pages of invites / chat_sessions and a
#: batch's cost does not grow with the table (pipeline/100_backfill.sql). Their UPDATEs match by primary
#: key; the walk key only orders the walk. link_users walks only the users create_patients did not link.
_KEYSET = {
    CREATE_PATIENTS: ("backfill_plan_persons", "person_key", "disposition = 'create'"),
    LINK_INVITES: ("backfill_plan_invites", "walk_key", "disposition = 'link'"),
    LINK_USERS: ("backfill_plan_users", "user_id", "disposition = 'link' AND link_walk"),
    LINK_CHAT_SESSIONS: ("backfill_plan_chats", "walk_key", "true"),
}


@dataclass(frozen=True)
class Lane:
    """One key range of a phase: keys in (lower, upper], walked in batches with its own checkpoint row."""

    checkpoint: str  # the checkpoint row's phase column: the phase itself, or "<phase>#<i>/<n>"
    lower: str
    upper: str | None  # None: the phase has no rows at all


def lane_checkpoint(phase: str, index: int, lanes: int) -> str:
    return phase if lanes == 1 else f"{phase}#{index + 1}/{lanes}"


def _checkpoint(conn: sa.Connection, run_id: str, plan_id: int, phase: str) -> tuple[str | None, bool]:
    row = conn.execute(sa.text(
        "SELECT last_key, done FROM patient_pipeline.backfill_checkpoints "
        "WHERE run_id = :r AND plan_id = :p AND phase = :ph"), {"r": run_id, "p": plan_id, "ph": phase}).first()
    conn.commit()
    return (None, False) if row is None else (row.last_key, bool(row.done))


def _planned_rows(conn: sa.Connection, plan_id: int, phase: str) -> int | None:
    """How many rows the plan gives ``phase`` to walk (from the plan's summary), None if unknown."""
    value = conn.execute(sa.text("SELECT summary ->> :k FROM patient_pipeline.backfill_plans WHERE plan_id = :p"),
                         {"k": _PLANNED_KEY[phase], "p": plan_id}).scalar()
    conn.commit()
    return int(value) if value is not None else None


def _lane_count(conn: sa.Connection, opts: BackfillOptions, plan_id: int, phase: str, planned: int | None) -> int:
    """The split an earlier call of this phase and plan started with (a resume keeps it), else a new one:
    ``opts.lanes``, fewer when a lane would get less than ``opts.lane_min_batches`` batches."""
    names = list(conn.execute(sa.text(
        "SELECT phase FROM patient_pipeline.backfill_checkpoints WHERE run_id = :r AND plan_id = :p "
        "AND (phase = :ph OR left(phase, :n) = :prefix)"),
        {"r": opts.run_id, "p": plan_id, "ph": phase, "n": len(phase) + 1, "prefix": phase + "#"}).scalars())
    conn.commit()
    if names:
        return max(int(name.rsplit("/", 1)[1]) if "#" in name else 1 for name in names)
    return max(1, min(opts.lanes, (planned or 0) // (opts.batch_size * opts.lane_min_batches)))


def _lanes(conn: sa.Connection, phase: str, count: int) -> list[Lane]:
    """``count`` lanes of equal row counts over the phase's keyset (percentiles of its plan table)."""
    table, key, where = _KEYSET[phase]
    fractions = [i / count for i in range(1, count)]
    cuts = f"percentile_disc(CAST(:f AS float8[])) WITHIN GROUP (ORDER BY {key})" if fractions else "NULL"
    row = conn.execute(sa.text(f"SELECT {cuts} AS cuts, max({key}) AS top "  # names from _KEYSET only
                               f"FROM patient_pipeline.{table} WHERE {where}"), {"f": fractions}).one()
    conn.commit()
    uppers = [*(row.cuts or []), row.top]
    lowers = ["", *uppers[:-1]]
    return [Lane(lane_checkpoint(phase, i, count), lowers[i] or "", uppers[i]) for i in range(count)]


class _Progress:
    """Logs ``phase``'s progress every PROGRESS_EVERY_S: rows walked of the planned rows, rate, time left.

    Shared by the phase's lanes (thread-safe): the line counts every lane's batches.
    """

    def __init__(self, phase: str, planned: int | None, resumed: bool) -> None:
        self.phase, self.planned, self.resumed = phase, planned, resumed
        self.started = self.last = time.monotonic()
        self.scanned = self.written = self.batches = 0
        self._lock = threading.Lock()

    def batch_done(self, scanned: int, written: int) -> None:
        with self._lock:
            self.scanned += scanned
            self.written += written
            self.batches += 1
            now = time.monotonic()
            if now - self.last < PROGRESS_EVERY_S:
                return
            self.last = now
            walked = self.scanned
            rate = walked / (now - self.started) if now > self.started else 0.0
            if self.planned and not self.resumed:
                left = max(self.planned - walked, 0)
                share = f" of {self.planned:,} planned ({100.0 * walked / self.planned:.0f}%)"
                eta = f", ~{left / rate:.0f}s left" if rate else ""
            else:  # resumed: the rows before the checkpoint were walked by an earlier attempt
                share, eta = (" since the resume" if self.resumed else ""), ""
            log.info("%s: %s rows walked%s, %s written, %d batches, %.0f rows/s%s", self.phase, f"{walked:,}", share,
                     f"{self.written:,}", self.batches, rate, eta)
            metrics.backfill_progress(self.phase, walked, None if self.resumed else self.planned, rate)


@dataclass
class _LaneRun:
    """What one lane did in this call."""

    rows: int = 0
    batches: int = 0
    complete: bool = False
    resumed_from: str | None = None


def _walk(conn: sa.Connection, opts: BackfillOptions, plan_id: int, phase: str, lane: Lane, index: int,
          progress: _Progress, stop: threading.Event, throttle: CommitLatencyThrottle | None) -> _LaneRun:
    """Run ``lane``'s batches from its checkpoint to its upper key (or max_batches, or ``stop``)."""
    out = _LaneRun()
    last_key, done = _checkpoint(conn, opts.run_id, plan_id, lane.checkpoint)
    if done:
        out.complete, out.resumed_from = True, last_key
        return out
    out.resumed_from = last_key
    stmt = sqlfiles.statement(_BATCH_SQL[phase])
    key = last_key if last_key is not None else lane.lower
    while not stop.is_set():
        if opts.max_batches is not None and out.batches >= opts.max_batches:
            break
        if throttle is not None:
            throttle.before_batch(index, stop)
        # no upper key (nothing planned): '' selects no row, and that empty batch marks the lane done
        params = {"run_id": opts.run_id, "plan_id": plan_id, "phase": lane.checkpoint, "last_key": key,
                  "upper_key": lane.upper if lane.upper is not None else "", "batch_size": opts.batch_size}
        scanned, new_key, written = in_short_transaction(
            conn, opts, f"backfill {lane.checkpoint} batch after key #{out.batches}",
            lambda c, p=params: _run_batch(c, stmt, p))
        if scanned:
            out.batches += 1
            out.rows += int(written)
            key = new_key
            progress.batch_done(scanned, written)
        if scanned < opts.batch_size:
            out.complete = True
            break
    return out


def _walk_lanes(conn: sa.Connection, opts: BackfillOptions, plan_id: int, phase: str, lanes: list[Lane],
                progress: _Progress, throttle: CommitLatencyThrottle | None) -> list[_LaneRun]:
    """One lane on ``conn``; several side by side, each on its own connection of ``conn``'s engine. When a
    lane fails, the others stop after their current batch (its checkpoint committed) and the first error
    is raised: a re-run resumes every lane where it stopped."""
    stop = threading.Event()
    start_clean(conn)
    with ExitStack() as stack:
        if throttle is not None:
            stack.enter_context(throttle.running(conn.engine))
        if len(lanes) == 1:
            return [_walk(conn, opts, plan_id, phase, lanes[0], 0, progress, stop, throttle)]

        def lane_body(index: int, lane: Lane) -> _LaneRun:
            try:
                with conn.engine.connect() as lane_conn:
                    return _walk(lane_conn, opts, plan_id, phase, lane, index, progress, stop, throttle)
            except BaseException:
                stop.set()
                raise
            finally:
                if throttle is not None:
                    throttle.lane_finished(index)

        with ThreadPoolExecutor(max_workers=len(lanes), thread_name_prefix=f"backfill-{phase}") as pool:
            futures = [pool.submit(lane_body, i, lane) for i, lane in enumerate(lanes)]
            wait(futures)
    errors = [f.exception() for f in futures if f.exception() is not None]
    if errors:
        raise errors[0]
    return [f.result() for f in futures]


def run_phase(conn: sa.Connection, opts: BackfillOptions, phase: str) -> PhaseResult:
    """Run ``phase`` of the current plan in keyset batches from its checkpoints to the end (or max_batches).

    The phase's key range is split into lanes (:func:`_lane_count`) that run side by side; each lane
    commits its batches with its own checkpoint row, so a killed run resumes every lane after its last
    committed batch. ``max_batches`` bounds the batches of each lane in this call.
    """
    started = time.monotonic()
    start_clean(conn)
    header = require_plan(conn, opts.run_id)
    planned = _planned_rows(conn, header.plan_id, phase)
    count = _lane_count(conn, opts, header.plan_id, phase, planned)
    lanes = _lanes(conn, phase, count)
    states = [_checkpoint(conn, opts.run_id, header.plan_id, lane.checkpoint) for lane in lanes]
    resumed = [key for key, _ in states if key is not None]
    if all(done for _, done in states):
        log.info("%s: plan %s already complete for run %s", phase, header.plan_id, opts.run_id)
        return PhaseResult(phase, 0, 0, 0.0, 0.0, resumed_from=resumed[0] if resumed else None, complete=True,
                           lanes=count)
    if resumed:
        log.info("%s: resuming plan %s after its last committed batch%s", phase, header.plan_id,
                 f" ({count} lanes)" if count > 1 else "")
    elif count > 1:
        log.info("%s: %d lanes side by side", phase, count)
    progress = _Progress(phase, planned, resumed=bool(resumed))
    throttle = CommitLatencyThrottle(opts.throttle_factor, count) if opts.throttle_factor else None
    runs = _walk_lanes(conn, opts, header.plan_id, phase, lanes, progress, throttle)
    rows, batches = sum(r.rows for r in runs), sum(r.batches for r in runs)
    complete = all(r.complete for r in runs)
    if complete and phase == CREATE_PATIENTS:
        _analyze_patients(conn, opts)
    seconds = time.monotonic() - started
    log.info("%s: %d rows in %d batches, %.1fs%s", phase, rows, batches, seconds, "" if complete else " (paused)")
    metrics.backfill_progress(phase, rows, None, rows / seconds if seconds else None)
    if throttle is not None:
        log.info("%s: throttle %s", phase, throttle.summary())
    return PhaseResult(phase, rows, batches, round(seconds, 3), round(rows / seconds, 1) if seconds else 0.0,
                       resumed_from=resumed[0] if resumed else None, complete=complete, lanes=count,
                       throttle=throttle.summary() if throttle is not None else None)


def _analyze_patients(conn: sa.Connection, opts: BackfillOptions) -> None:
    """Fresh statistics after a bulk insert, so the link batches' identity-key lookups use the index."""
    try:
        in_short_transaction(conn, opts, "analyze patients", lambda c: c.exec_driver_sql("ANALYZE patients"))
    except locks.LockTimeoutExhausted:
        log.warning("ANALYZE patients skipped: its lock was busy; autovacuum will refresh the statistics")


def create_patients(conn: sa.Connection, opts: BackfillOptions) -> PhaseResult:
    """Insert the planned patients (ON CONFLICT DO NOTHING) and record them in the patient ledger."""
    return run_phase(conn, opts, CREATE_PATIENTS)


def link_invites(conn: sa.Connection, opts: BackfillOptions) -> PhaseResult:
    """Fill invites.patient_id (still NULL only) by the identity key; every link goes to the link ledger."""
    return run_phase(conn, opts, LINK_INVITES)


def link_users(conn: sa.Connection, opts: BackfillOptions) -> PhaseResult:
    """Fill patients.user_id for planned users whose patient has none yet (ledgered)."""
    return run_phase(conn, opts, LINK_USERS)


def link_chat_sessions(conn: sa.Connection, opts: BackfillOptions) -> PhaseResult:
    """Fill chat_sessions.patient_id with the patient of the session's user (ledgered)."""
    return run_phase(conn, opts, LINK_CHAT_SESSIONS)


PHASES = (CREATE_PATIENTS, LINK_INVITES, LINK_USERS, LINK_CHAT_SESSIONS)
