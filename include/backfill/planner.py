"""plan(): one set-based pass that decides every patient and link of the backfill, writing only the
plan tables of ``patient_pipeline`` (never an application table). It is also the dry run."""

from __future__ import annotations

import json
import logging
import time
from concurrent.futures import ThreadPoolExecutor, wait
from dataclasses import dataclass

import sqlalchemy as sa

from include.backfill import sqlfiles
from include.backfill.models import BackfillOptions, PlanLost, PlanMissing, PlanSummary
from include.backfill.transactions import in_short_transaction, start_clean
from include.core import pipeline_schema

log = logging.getLogger(__name__)

#: Plan tables whose statistics are refreshed right after the step that fills them.
#: Only the columns later steps join or filter on are analyzed (the sample is read once either way;
#: per-column statistics of the wide attribute columns would be wasted work).
ANALYZE_AFTER = {
    "plan_02_invites": ("backfill_plan_invites (invite_id, account_id, email_key, name_key, person_key, "
                        "inv_user_id, disposition)",),
    "plan_03_users": ("backfill_plan_users (user_id, email_key, first_key, person_key, disposition)",),
    "plan_07_persons_from_invites": ("backfill_plan_persons (person_key, account_id, email_key, name_key, "
                                     "existing_user_id, disposition)",),
    "plan_12_chats": ("backfill_plan_chats",),
}

#: The plan is one transaction of a few large sorts, hashes and window aggregates over the whole
#: invite set: enough memory keeps them off temporary files (SET LOCAL: only for the plan's transaction).
PLAN_WORK_MEM = "256MB"

PLAN_TABLES = ("backfill_plan_invites", "backfill_plan_users", "backfill_plan_persons", "backfill_plan_chats")


@dataclass(frozen=True)
class PlanHeader:
    plan_id: int
    run_id: str
    state: str
    counts: dict[str, int]


#: The plan's steps that read an application table's heap in slices (``:lo`` <= ctid < ``:hi``): with
#: ``plan_workers`` > 1 their slices run side by side on several connections that share one exported
#: snapshot (so the invites and users they read are the same consistent picture as one transaction's).
SLICED_STEPS = {"plan_02_invites": "invites", "plan_03_users": "users"}
#: A slice covering the whole heap (a block number is below 2^32).
WHOLE_HEAP = ("(0,0)", "(4294967295,0)")


def _plan_settings(c: sa.Connection, search_path: str | None) -> None:
    # jit off: the plan's statements are few and big, but JIT compiling their wide expressions
    # costs more than it saves at these sizes.
    c.execute(sa.text("SELECT set_config('work_mem', :wm, true), set_config('jit', 'off', true)"),
              {"wm": PLAN_WORK_MEM})
    if search_path:
        c.exec_driver_sql(f"SET LOCAL search_path = {search_path}")


def _run_step(c: sa.Connection, step: str, params: dict[str, object], slice_note: str = "") -> None:
    t0 = time.monotonic()
    result = c.execute(sqlfiles.statement(step), params)
    log.info("plan %s%s: %s rows in %.2fs", step, slice_note, result.rowcount, time.monotonic() - t0)


def _analyze(c: sa.Connection, step: str) -> None:
    for table in ANALYZE_AFTER.get(step, ()):
        # Keep the planner's estimates right for the steps and batches that follow.
        c.exec_driver_sql(f"ANALYZE patient_pipeline.{table}")


def _finish(c: sa.Connection, plan_id: int) -> None:
    counts = c.execute(sqlfiles.statement("plan_16_summary")).mappings().one()
    c.execute(sa.text(
        "UPDATE patient_pipeline.backfill_plans SET state = 'ready', plan_invites = :pi, plan_persons = :pp, "
        "plan_users = :pu, plan_chats = :pc, summary = CAST(:summary AS jsonb), "
        "ready_at = now() AT TIME ZONE 'utc' WHERE plan_id = :plan_id"),
        {"pi": counts["plan_invites"], "pp": counts["plan_persons"], "pu": counts["plan_users"],
         "pc": counts["plan_chats"], "summary": json.dumps({k: int(v) for k, v in counts.items()}),
         "plan_id": plan_id})


def plan(conn: sa.Connection, opts: BackfillOptions, *, search_path: str | None = None) -> PlanSummary:
    """Rebuild the plan for ``opts.run_id`` from the live tables and return what it would do.

    With ``opts.plan_workers`` == 1: one REPEATABLE READ transaction (a consistent snapshot of the legacy
    tables). Otherwise (:func:`_plan_in_parallel`) the invites and users heaps are read in slices by
    several connections on one exported snapshot, then the rest of the plan runs in one transaction.
    Either way the plan becomes the current one only when its header says ``ready``. Safe to call any
    time: it writes no application table. ``search_path`` (from
    :func:`include.backfill.shadow.shadow_search_path`) lets a dry run plan before the upgrades exist.
    """
    started = time.monotonic()
    start_clean(conn)
    pipeline_schema.ensure(conn)
    if opts.plan_workers > 1:
        plan_id = _plan_in_parallel(conn, opts, search_path)
    else:
        def build(c: sa.Connection) -> int:
            c.exec_driver_sql("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ")
            _plan_settings(c, search_path)
            plan_id = c.execute(sa.text(
                "INSERT INTO patient_pipeline.backfill_plans (run_id) VALUES (:run_id) RETURNING plan_id"),
                {"run_id": opts.run_id}).scalar_one()
            for step in sqlfiles.PLAN_STEPS:
                params: dict[str, object] = {"run_id": opts.run_id}
                if step in SLICED_STEPS:
                    params.update(lo=WHOLE_HEAP[0], hi=WHOLE_HEAP[1])
                _run_step(c, step, params)
                _analyze(c, step)
            _finish(c, plan_id)
            return int(plan_id)

        plan_id = in_short_transaction(conn, opts, "backfill plan", build)
    summary = summarize(conn, opts.run_id)
    log.info("backfill plan %s for run %s built in %.1fs: %s", plan_id, opts.run_id, time.monotonic() - started,
             {k: v for k, v in summary.as_dict().items() if not isinstance(v, list)})
    return summary


def _heap_slices(c: sa.Connection, table: str, count: int) -> list[tuple[str, str]]:
    """``count`` tid ranges of equal block counts over ``table``'s heap; the last one is open-ended (a
    row the snapshot sees lies in a block that existed when the snapshot was taken, and blocks only
    come at the end)."""
    blocks = int(c.execute(sa.text(
        "SELECT pg_relation_size(CAST(:t AS regclass)) / current_setting('block_size')::int"), {"t": table}).scalar_one())
    cuts = sorted({blocks * i // count for i in range(1, count)} - {0})
    bounds = [WHOLE_HEAP[0], *(f"({b},0)" for b in cuts), WHOLE_HEAP[1]]
    return list(zip(bounds[:-1], bounds[1:], strict=True))


def _plan_in_parallel(conn: sa.Connection, opts: BackfillOptions, search_path: str | None) -> int:
    """The plan with its heap reads split over ``opts.plan_workers`` connections; returns the plan id.

    1. One short transaction: the plan header (state ``building``) and the reset of the plan tables.
    2. ``conn`` opens a REPEATABLE READ transaction and exports its snapshot (``pg_export_snapshot``);
       each worker connection runs one slice of a SLICED_STEPS step in its own REPEATABLE READ
       transaction on that snapshot (``SET TRANSACTION SNAPSHOT``) and commits its plan rows. Every
       slice sees exactly the rows one serial plan would see.
    3. One REPEATABLE READ transaction runs the remaining steps over the committed plan rows and marks
       the header ``ready``. Its snapshot is newer than step 2's: an invite the application links or a
       patient it writes in between is seen as such (the batches re-check every row anyway, rule 8).

    A failure anywhere leaves the header ``building``: no phase runs on it (require_plan), and the
    next plan() starts over. Workers are plain connections of ``conn``'s engine (the plan tables are
    UNLOGGED working tables; only this function writes them).
    """
    def start(c: sa.Connection) -> int:
        plan_id = c.execute(sa.text(
            "INSERT INTO patient_pipeline.backfill_plans (run_id) VALUES (:run_id) RETURNING plan_id"),
            {"run_id": opts.run_id}).scalar_one()
        _run_step(c, "plan_01_reset", {"run_id": opts.run_id})
        return int(plan_id)

    plan_id = in_short_transaction(conn, opts, "backfill plan reset", start)
    rest = [s for s in sqlfiles.PLAN_STEPS if s != "plan_01_reset" and s not in SLICED_STEPS]

    start_clean(conn)
    try:
        conn.exec_driver_sql("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ")
        conn.exec_driver_sql(f"SET LOCAL statement_timeout = {int(opts.statement_timeout_ms)}")
        if search_path:
            conn.exec_driver_sql(f"SET LOCAL search_path = {search_path}")
        snapshot = conn.execute(sa.text("SELECT pg_export_snapshot()")).scalar_one()
        tasks = []
        for step, table in SLICED_STEPS.items():
            slices = _heap_slices(conn, table, opts.plan_workers)
            tasks += [(step, lo, hi, f"{n + 1}/{len(slices)}") for n, (lo, hi) in enumerate(slices)]

        def slice_body(step: str, lo: str, hi: str, index: str) -> None:
            def body(c: sa.Connection) -> None:
                c.exec_driver_sql("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ")
                c.execute(sa.text("SET TRANSACTION SNAPSHOT '" + snapshot.replace("'", "") + "'"))
                _plan_settings(c, search_path)
                _run_step(c, step, {"run_id": opts.run_id, "lo": lo, "hi": hi}, f" (slice {index}, {lo}..{hi})")
            with conn.engine.connect() as worker:
                in_short_transaction(worker, opts, f"backfill plan {step} slice {index}", body)

        with ThreadPoolExecutor(max_workers=opts.plan_workers, thread_name_prefix="backfill-plan") as pool:
            futures = [pool.submit(slice_body, *task) for task in tasks]
            wait(futures)
        errors = [f.exception() for f in futures if f.exception() is not None]
        if errors:
            raise errors[0]
    finally:
        conn.rollback()  # the exporting transaction only held the snapshot

    def build_rest(c: sa.Connection) -> None:
        c.exec_driver_sql("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ")
        _plan_settings(c, search_path)
        for step in SLICED_STEPS:
            _analyze(c, step)
        for step in rest:
            _run_step(c, step, {"run_id": opts.run_id})
            _analyze(c, step)
        _finish(c, plan_id)

    in_short_transaction(conn, opts, "backfill plan", build_rest)
    return plan_id


def current_plan(conn: sa.Connection) -> PlanHeader | None:
    row = conn.execute(sa.text(
        "SELECT plan_id, run_id, state, plan_invites, plan_persons, plan_users, plan_chats "
        "FROM patient_pipeline.backfill_plans ORDER BY plan_id DESC LIMIT 1")).mappings().first()
    if conn.in_transaction():
        conn.commit()
    if row is None:
        return None
    counts = {t: int(row[k] or 0) for t, k in zip(PLAN_TABLES, ("plan_invites", "plan_users", "plan_persons",
                                                              "plan_chats"), strict=True)}
    return PlanHeader(int(row["plan_id"]), row["run_id"], row["state"], counts)


def plan_is_intact(conn: sa.Connection, header: PlanHeader) -> bool:
    """The UNLOGGED plan tables still hold what the header counted (a server crash empties them)."""
    for table, expected in header.counts.items():
        got = conn.execute(sa.text(f"SELECT count(*) FROM patient_pipeline.{table}")).scalar_one()
        if got != expected:
            conn.commit()
            return False
    conn.commit()
    return True


def require_plan(conn: sa.Connection, run_id: str) -> PlanHeader:
    """The current plan, if it is ready, belongs to ``run_id`` and is intact; else a specific error."""
    start_clean(conn)
    try:
        header = current_plan(conn)
    except sa.exc.ProgrammingError as exc:
        conn.rollback()
        raise PlanMissing(
            f"run {run_id}: no backfill plan exists (the patient_pipeline tables are missing); "
            "run the plan_backfill step (include.backfill.plan) first") from exc
    if header is None or header.run_id != run_id or header.state != "ready":
        other = "none" if header is None else f"plan {header.plan_id} of run {header.run_id} ({header.state})"
        raise PlanMissing(
            f"run {run_id}: the current backfill plan is {other}; run the plan_backfill step for this run first")
    if not plan_is_intact(conn, header):
        raise PlanLost(
            f"run {run_id}: the working tables of plan {header.plan_id} lost rows (PostgreSQL restarted after a "
            "crash empties UNLOGGED tables); re-run the plan_backfill step, then this step again")
    return header


def summarize(conn: sa.Connection, run_id: str) -> PlanSummary:
    """The current plan's counts and this run's quarantine and review-queue ids."""
    header = current_plan(conn)
    if header is None:
        raise PlanMissing(f"run {run_id}: no backfill plan exists; run the plan_backfill step first")
    counts = conn.execute(sa.text(
        "SELECT summary FROM patient_pipeline.backfill_plans WHERE plan_id = :p"), {"p": header.plan_id}).scalar_one()

    def ids(table: str, entity: str) -> list[str]:
        return list(conn.execute(sa.text(
            f"SELECT entity_id FROM patient_pipeline.{table} WHERE run_id = :r AND entity = :e ORDER BY entity_id"),
            {"r": run_id, "e": entity}).scalars())

    out = PlanSummary(
        persons=counts["persons"],
        patients_to_create=counts["patients_to_create"],
        patients_matched=counts["patients_matched"],
        invites_to_link=counts["invites_to_link"],
        users_to_link=counts["users_to_link"],
        chats_to_link=counts["chats_to_link"],
        quarantined_invite_ids=ids("backfill_quarantine", "invite"),
        review_queue_invite_ids=ids("backfill_review_queue", "invite"),
        unresolved_account_invites=counts["unresolved_account_invites"],
        unparseable_phones=counts["unparseable_phones"],
        plan_id=header.plan_id,
        quarantined_user_ids=ids("backfill_quarantine", "user"),
        review_queue_user_ids=ids("backfill_review_queue", "user"),
        review_queue_patient_ids=ids("backfill_review_queue", "patient"),
    )
    conn.commit()
    return out
