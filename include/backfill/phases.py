"""The batched, resumable phases of the backfill: create_patients, link_invites, link_users,
link_chat_sessions. Each batch is one statement in one short transaction that also advances the
phase's checkpoint, so a killed run resumes right after its last committed batch."""

from __future__ import annotations

import logging
import time

import sqlalchemy as sa

from include.backfill import sqlfiles
from include.backfill.models import BackfillOptions, PhaseResult
from include.backfill.planner import require_plan
from include.backfill.transactions import in_short_transaction, start_clean
from include.core import locks

log = logging.getLogger(__name__)

CREATE_PATIENTS = "create_patients"
LINK_INVITES = "link_invites"
LINK_USERS = "link_users"
LINK_CHAT_SESSIONS = "link_chat_sessions"

#: The plan summary's count of the rows each phase walks (its batches' keyset), for progress lines.
_PLANNED_KEY = {
    CREATE_PATIENTS: "patients_to_create",
    LINK_INVITES: "invites_to_link",
    LINK_USERS: "users_to_link",
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


class _Progress:
    """Logs ``phase``'s progress every PROGRESS_EVERY_S: rows walked of the planned rows, rate, time left."""

    def __init__(self, phase: str, planned: int | None, resumed: bool) -> None:
        self.phase, self.planned, self.resumed = phase, planned, resumed
        self.started = self.last = time.monotonic()

    def batch_done(self, scanned: int, written: int, batches: int) -> None:
        now = time.monotonic()
        if now - self.last < PROGRESS_EVERY_S:
            return
        self.last = now
        rate = scanned / (now - self.started) if now > self.started else 0.0
        if self.planned and not self.resumed:
            left = max(self.planned - scanned, 0)
            share = f" of {self.planned:,} planned ({100.0 * scanned / self.planned:.0f}%)"
            eta = f", ~{left / rate:.0f}s left" if rate else ""
        else:  # resumed: the rows before the checkpoint were walked by an earlier attempt
            share, eta = (" since the resume" if self.resumed else ""), ""
        log.info("%s: %s rows walked%s, %s written, %d batches, %.0f rows/s%s", self.phase, f"{scanned:,}", share,
                 f"{written:,}", batches, rate, eta)


def run_phase(conn: sa.Connection, opts: BackfillOptions, phase: str) -> PhaseResult:
    """Run ``phase`` of the current plan in keyset batches from its checkpoint to the end (or max_batches)."""
    started = time.monotonic()
    start_clean(conn)
    header = require_plan(conn, opts.run_id)
    last_key, done = _checkpoint(conn, opts.run_id, header.plan_id, phase)
    if done:
        log.info("%s: plan %s already complete for run %s", phase, header.plan_id, opts.run_id)
        return PhaseResult(phase, 0, 0, 0.0, 0.0, resumed_from=last_key, complete=True)
    resumed_from = last_key
    if resumed_from is not None:
        log.info("%s: resuming plan %s after its last committed batch", phase, header.plan_id)
    stmt = sqlfiles.statement(_BATCH_SQL[phase])
    progress = _Progress(phase, _planned_rows(conn, header.plan_id, phase), resumed=resumed_from is not None)
    rows = batches = walked = 0
    complete = False
    key = last_key or ""
    while True:
        if opts.max_batches is not None and batches >= opts.max_batches:
            break
        params = {"run_id": opts.run_id, "plan_id": header.plan_id, "phase": phase, "last_key": key,
                  "batch_size": opts.batch_size}
        scanned, new_key, written = in_short_transaction(
            conn, opts, f"backfill {phase} batch after key #{batches}",
            lambda c, p=params: _run_batch(c, stmt, p))
        if scanned:
            batches += 1
            rows += int(written)
            walked += scanned
            key = new_key
            progress.batch_done(walked, rows, batches)
        if scanned < opts.batch_size:
            complete = True
            break
    if complete and phase == CREATE_PATIENTS:
        _analyze_patients(conn, opts)
    seconds = time.monotonic() - started
    log.info("%s: %d rows in %d batches, %.1fs%s", phase, rows, batches, seconds, "" if complete else " (paused)")
    return PhaseResult(phase, rows, batches, round(seconds, 3), round(rows / seconds, 1) if seconds else 0.0,
                       resumed_from=resumed_from, complete=complete)


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
