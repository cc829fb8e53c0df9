"""catch_up() and run_all(): the whole backfill, for the benchmark, the tests and the CLI."""

from __future__ import annotations

import logging
import time
from contextlib import ExitStack

import sqlalchemy as sa

from include.backfill.models import BackfillOptions, BackfillResult, PhaseResult
from include.backfill.phases import PHASES, run_phase
from include.backfill.planner import current_plan, plan, plan_is_intact, summarize
from include.core import pipeline_schema

log = logging.getLogger(__name__)


def catch_up(conn: sa.Connection, opts: BackfillOptions) -> dict[str, object]:
    """Re-plan and re-apply for rows the application wrote while the backfill ran (unlinked invites,
    users, chat sessions), until a plan finds nothing to do or ``opts.catch_up_rounds`` plans were made.

    Returns counts only: rounds, rows written per phase, what is left (quarantined / review ids).
    """
    totals = {phase: 0 for phase in PHASES}
    rounds = 0
    summary = plan(conn, opts)
    while not summary.nothing_to_do and rounds < opts.catch_up_rounds:
        rounds += 1
        for phase in PHASES:
            result = run_phase(conn, opts, phase)
            totals[phase] += result.rows
            if not result.complete:
                return _report(rounds, totals, summary, bound_hit=False, complete=False)
        summary = plan(conn, opts)
    return _report(rounds, totals, summary, bound_hit=not summary.nothing_to_do, complete=True)


def _report(rounds: int, totals: dict[str, int], summary, *, bound_hit: bool, complete: bool) -> dict[str, object]:
    return {
        "rounds": rounds,
        "rows": totals,
        "complete": complete,
        "bound_hit": bound_hit,
        "left_invites_to_link": summary.invites_to_link,
        "left_users_to_link": summary.users_to_link,
        "left_chats_to_link": summary.chats_to_link,
        "quarantined_invite_ids": summary.quarantined_invite_ids,
        "quarantined_user_ids": summary.quarantined_user_ids,
        "review_queue_invite_ids": summary.review_queue_invite_ids,
        "review_queue_user_ids": summary.review_queue_user_ids,
        "review_queue_patient_ids": summary.review_queue_patient_ids,
    }


def run_all(conn_or_engine: sa.Connection | sa.Engine, opts: BackfillOptions) -> BackfillResult:
    """plan -> create_patients -> link_invites -> link_users -> link_chat_sessions -> catch_up.

    Resumable: when the current plan belongs to ``opts.run_id`` and is intact, it is reused and each
    phase continues from its checkpoint; otherwise a new plan is built. With ``max_batches`` a phase
    may pause; then the result says complete=False and a second call continues.
    """
    started = time.monotonic()
    with ExitStack() as stack:
        conn = conn_or_engine
        if isinstance(conn_or_engine, sa.Engine):
            conn = stack.enter_context(conn_or_engine.connect())
        assert isinstance(conn, sa.Connection)
        pipeline_schema.ensure(conn)
        header = current_plan(conn)
        if header is not None and header.run_id == opts.run_id and header.state == "ready" \
                and plan_is_intact(conn, header):
            log.info("run %s: resuming with plan %s", opts.run_id, header.plan_id)
            summary = summarize(conn, opts.run_id)
        else:
            summary = plan(conn, opts)
        results: list[PhaseResult] = []
        for phase in PHASES:
            result = run_phase(conn, opts, phase)
            results.append(result)
            if not result.complete:
                return BackfillResult(summary, results, None, round(time.monotonic() - started, 3), False)
        caught = catch_up(conn, opts)
        return BackfillResult(summary, results, caught, round(time.monotonic() - started, 3),
                              bool(caught["complete"]))
