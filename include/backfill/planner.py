"""plan(): one set-based pass that decides every patient and link of the backfill, writing only the
plan tables of ``patient_pipeline`` (never an application table). It is also the dry run."""

from __future__ import annotations

import json
import logging
import time
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


def plan(conn: sa.Connection, opts: BackfillOptions, *, search_path: str | None = None) -> PlanSummary:
    """Rebuild the plan for ``opts.run_id`` from the live tables and return what it would do.

    One REPEATABLE READ transaction (a consistent snapshot of the legacy tables); the plan becomes the
    current one only when it commits. Safe to call any time: it writes no application table.
    ``search_path`` (from :func:`include.backfill.shadow.shadow_search_path`) lets a dry run plan
    before the upgrades exist.
    """
    started = time.monotonic()
    start_clean(conn)
    pipeline_schema.ensure(conn)

    def build(c: sa.Connection) -> int:
        c.exec_driver_sql("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ")
        # jit off: the plan's statements are few and big, but JIT compiling their wide expressions
        # costs more than it saves at these sizes.
        c.execute(sa.text("SELECT set_config('work_mem', :wm, true), set_config('jit', 'off', true)"),
                  {"wm": PLAN_WORK_MEM})
        if search_path:
            c.exec_driver_sql(f"SET LOCAL search_path = {search_path}")
        plan_id = c.execute(sa.text(
            "INSERT INTO patient_pipeline.backfill_plans (run_id) VALUES (:run_id) RETURNING plan_id"),
            {"run_id": opts.run_id}).scalar_one()
        for step in sqlfiles.PLAN_STEPS:
            t0 = time.monotonic()
            result = c.execute(sqlfiles.statement(step), {"run_id": opts.run_id})
            log.info("plan %s: %s rows in %.2fs", step, result.rowcount, time.monotonic() - t0)
            for table in ANALYZE_AFTER.get(step, ()):
                # Keep the planner's estimates right for the steps and batches that follow.
                c.exec_driver_sql(f"ANALYZE patient_pipeline.{table}")
        counts = c.execute(sqlfiles.statement("plan_16_summary")).mappings().one()
        c.execute(sa.text(
            "UPDATE patient_pipeline.backfill_plans SET state = 'ready', plan_invites = :pi, plan_persons = :pp, "
            "plan_users = :pu, plan_chats = :pc, summary = CAST(:summary AS jsonb), "
            "ready_at = now() AT TIME ZONE 'utc' WHERE plan_id = :plan_id"),
            {"pi": counts["plan_invites"], "pp": counts["plan_persons"], "pu": counts["plan_users"],
             "pc": counts["plan_chats"], "summary": json.dumps({k: int(v) for k, v in counts.items()}),
             "plan_id": plan_id})
        return int(plan_id)

    plan_id = in_short_transaction(conn, opts, "backfill plan", build)
    summary = summarize(conn, opts.run_id)
    log.info("backfill plan %s for run %s built in %.1fs: %s", plan_id, opts.run_id, time.monotonic() - started,
             {k: v for k, v in summary.as_dict().items() if not isinstance(v, list)})
    return summary


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
