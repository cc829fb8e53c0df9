"""Run one stewardship request (``include/stewardship/request.py``): each action to its code, in its own
transaction. The caller holds the pipeline lease (the DAG's first task; the CLI around the whole command;
the review page around one decision).

``dry_run`` (default on): the exact outcome is computed, rolled back and recorded as a dry run. A refusal
(``ActionRefused``) rolls the action back and is recorded with its reason code. Database errors leave
through include/core/db_errors.py (SQLSTATE and object names, never a row value) as
``StewardshipDbError``. The report: ``include/stewardship/report.py``.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa

from include.core import pipeline_schema
from include.core.db_errors import DatabaseStepFailed, db_step
from include.stewardship import actions, review, undo_import, worklist
from include.stewardship.actions import ActionResult, Context
from include.stewardship.errors import ActionRefused, BadRequest, StewardshipDbError
from include.stewardship.input_files import parse_decisions, read_input_file
from include.stewardship.request import Request, parse_night, validate

log = logging.getLogger(__name__)



# --------------------------------------------------------------------------------------------- validation


# --------------------------------------------------------------------------------------------- input files


# --------------------------------------------------------------------------------------------- running


@contextmanager
def _db_errors(action: str) -> Iterator[None]:
    """The database step of one action (include/core/db_errors.py); its failure is the action's
    ``StewardshipError``, which the DAG, the CLI and the review page report as such."""
    try:
        with db_step(f"stewardship {action}"):
            yield
    except DatabaseStepFailed as exc:
        raise StewardshipDbError(f"{exc} Nothing of the {action} was applied.") from None


def in_transaction(engine: sa.Engine, ctx: Context, action: str, params: dict[str, Any],
                   fn: Callable[[sa.Connection], ActionResult]) -> ActionResult:
    """Run one action in one transaction: commit it, roll back a dry run (and record it as such), or
    record a refusal."""
    with _db_errors(action), engine.connect() as conn:
        tx = conn.begin()
        try:
            result = fn(conn)
        except ActionRefused as exc:
            tx.rollback()
            with conn.begin():
                aid = actions.record(conn, ctx, action, "refused", params, reason_code=exc.reason_code)
            return ActionResult(action, "refused", aid, exc.reason_code, str(exc), params)
        except BaseException:
            if tx.is_active:
                tx.rollback()
            raise
        if ctx.dry_run:
            tx.rollback()
            with conn.begin():
                result.action_id = actions.record(conn, ctx, action, "dry_run", result.params, result.counts)
        else:
            tx.commit()
        return result


def _one(engine: sa.Engine, req: Request, ctx: Context) -> ActionResult:
    if req.action == "merge":
        return in_transaction(engine, ctx, "merge", {"survivor_id": req.survivor_id, "merged_id": req.merged_id},
                              lambda c: review.merge(c, ctx, req.survivor_id, req.merged_id, req.items))
    if req.action == "unmerge":
        return in_transaction(engine, ctx, "unmerge", {"merge_action_id": req.merge_action_id,
                                                       "merged_id": req.merged_id or None},
                              lambda c: review.unmerge(c, ctx, merge_action_id=req.merge_action_id,
                                                       merged=req.merged_id or None))
    if req.action == "keep_separate":
        pair = (req.patients[0], req.patients[1]) if req.patients else None
        return in_transaction(engine, ctx, "keep_separate", {"items": req.items, "patients": req.patients},
                              lambda c: review.keep_separate(c, ctx, item=req.items[0] if req.items else None,
                                                             patients=pair))
    if req.action == "dismiss":
        return in_transaction(engine, ctx, "dismiss", {"items": req.items},
                              lambda c: review.dismiss(c, ctx, req.items))
    if req.action == "undo_import":
        return in_transaction(engine, ctx, "undo_import", {"file_id": req.file_id},
                              lambda c: undo_import.undo_import(c, ctx, int(req.file_id or 0)))
    raise BadRequest(f"action {req.action} is not a single decision")


def _undo_action(engine: sa.Engine, req: Request, ctx: Context) -> list[ActionResult]:
    params = {"action_id": req.target_action_id}

    def undo(conn: sa.Connection) -> ActionResult:
        target = actions.get(conn, int(req.target_action_id or 0))
        if target.status != "applied":
            raise ActionRefused("not_applied", f"action {target.action_id} is {target.status}; only an applied "
                                "action can be undone")
        if target.action == "merge":
            return review.unmerge(conn, ctx, merge_action_id=target.action_id)
        if target.action in ("keep_separate", "dismiss"):
            return review.undo_resolution(conn, ctx, target)
        if target.action == "replay_corrections":
            return worklist.undo_replay(conn, ctx, target)[0]
        raise ActionRefused("not_undoable", f"a {target.action} cannot be undone by undo_action "
                            "(undo_import: import the file again; unmerge: merge again; an export: delete the file)")

    return [in_transaction(engine, ctx, "undo_action", params, undo)]


def execute(engine: sa.Engine, req: Request, ctx: Context, run_id: str,
            extra_roots: list[str] | None = None) -> list[ActionResult]:
    """Run a validated request (the caller holds the lease); returns one result per action taken."""
    validate(req)
    with engine.connect() as conn:
        pipeline_schema.ensure(conn)
    results = _execute(engine, req, ctx, run_id, extra_roots)
    for r in results:  # ids, counts and reason codes only
        log.info("stewardship %s: %s (action %s)%s %s", r.action, r.status, r.action_id,
                 f" reason {r.reason_code}" if r.reason_code else "", r.counts)
    return results


def _execute(engine: sa.Engine, req: Request, ctx: Context, run_id: str,
             extra_roots: list[str] | None) -> list[ActionResult]:
    if req.action == "decisions":
        decisions = parse_decisions(read_input_file(req.input_file, extra_roots))
        return [_one(engine, d, ctx) for d in decisions]
    if req.action == "undo_action":
        return _undo_action(engine, req, ctx)
    if req.action == "identity_match":
        return [_identity_match(engine, req, ctx, run_id)]
    if req.action == "export_worklist":
        scope = worklist.Scope(req.file_id, req.source_id or None, parse_night(req.night) if req.night else None)
        dest = worklist.stewardship_dir(run_id) / f"worklist_{scope.label()}.csv"
        with _db_errors("export_worklist"), engine.connect() as conn:
            return [worklist.export_worklist(conn, ctx, scope, dest)]
    if req.action == "replay_corrections":
        text = read_input_file(req.input_file, extra_roots)
        try:
            with _db_errors("replay_corrections"):
                return worklist.replay_corrections(engine, ctx, text, run_id)
        except ActionRefused as exc:
            with engine.begin() as conn:
                aid = actions.record(conn, ctx, "replay_corrections", "refused", {"input_file": "given"},
                                     reason_code=exc.reason_code)
            return [ActionResult("replay_corrections", "refused", aid, exc.reason_code, str(exc))]
    return [_one(engine, req, ctx)]


def _identity_match(engine: sa.Engine, req: Request, ctx: Context, run_id: str) -> ActionResult:
    """The matcher on demand (docs/contracts/identity.md §2 c): it only proposes (review items), so a dry run runs it too."""
    from include.identity import steps as identity_steps

    out = identity_steps.on_demand(engine, [req.account_id] if req.account_id else None, req.match_mode, run_id)
    counts = {"accounts": int(out["accounts"]), "queued": int(out["queued"]),
              "failed_accounts": len(out["failed_accounts"])}
    params = {"account_id": req.account_id or None, "match_mode": req.match_mode}
    with engine.begin() as conn:
        aid = actions.record(conn, ctx, "identity_match", "applied", params, counts)
    return ActionResult("identity_match", "applied", aid, params=params, counts=counts,
                        ids={"match_run_ids": [r["match_run_id"] for r in out["runs"]],
                             "failed_accounts": sorted(out["failed_accounts"])})


# --------------------------------------------------------------------------------------------- reports and lists


def cli_run_id() -> str:
    return f"cli__{datetime.now(UTC).strftime('%Y%m%dT%H%M%S')}_{uuid.uuid4().hex[:6]}"


def cli_lease(engine: sa.Engine, run_id: str, wait_s: float = 0):
    """The pipeline lease around one CLI command (the same lease the DAGs take)."""
    from include.core import lease

    return lease.held(engine, "cli:steward", run_id, wait_s=wait_s)
