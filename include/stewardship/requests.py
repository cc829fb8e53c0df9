"""One stewardship request, as the DAG's Params form or the CLI gives it: validate, run, report.

A request names an ``action`` and its ids (or a decisions / corrections file on the runs root or a landing
location), ``dry_run`` (default on: the exact outcome is computed and rolled back, and recorded as a dry
run) and ``confirm``: a real run of a destructive action needs the action's word (``MERGE``, ``UNMERGE``,
``UNDO_IMPORT``, ``REPLAY``, ``UNDO``, ``APPLY`` for a decisions file). The caller holds the pipeline lease
(the DAG's first task; the CLI around the whole command).

Each action runs in its own transaction; a refusal (``ActionRefused``) rolls it back and is recorded with
its reason code. Database errors are re-raised without PostgreSQL's DETAIL (which can quote row values):
SQLSTATE and constraint only.
"""

from __future__ import annotations

import csv
import io
import json
import logging
import os
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import psycopg
import sqlalchemy as sa

from include.core import pipeline_dags, pipeline_schema, run_report, settings
from include.core.errors import ConfirmationMissing
from include.stewardship import actions, review, undo_import, worklist
from include.stewardship.actions import CONFIRM_WORDS, ActionResult, Context
from include.stewardship.errors import ActionRefused, BadRequest, StewardshipError

log = logging.getLogger(__name__)

DAG_ID = pipeline_dags.STEWARDSHIP.dag_id
ACTIONS = ("merge", "unmerge", "keep_separate", "dismiss", "export_worklist", "replay_corrections",
           "undo_import", "undo_action", "decisions", "identity_match")
#: Actions a decisions file may hold (one per entry).
DECISION_ACTIONS = ("merge", "unmerge", "keep_separate", "dismiss")
MAX_INPUT_BYTES = 50 * 1024 * 1024


class StewardshipDbError(StewardshipError):
    """A database step failed; the message has the action, SQLSTATE and constraint only (no values)."""


@dataclass
class Request:
    action: str
    dry_run: bool = True
    confirm: str = ""
    survivor_id: str = ""
    merged_id: str = ""
    items: list[str] = field(default_factory=list)
    patients: list[str] = field(default_factory=list)
    merge_action_id: int | None = None
    file_id: int | None = None
    source_id: str = ""
    night: str = ""
    input_file: str = ""
    target_action_id: int | None = None
    account_id: str = ""
    match_mode: str = "full"

    @staticmethod
    def from_params(p: dict[str, Any]) -> Request:
        """From the DAG's Params (every key optional except ``action``; None, empty, blank and a lone ``-``
        mean "not given", as do such entries of a list)."""
        def text(key: str) -> str:
            value = p.get(key)
            value = "" if value is None else str(value).strip()
            return "" if value in NOT_SET else value

        def many(key: str) -> list[str]:
            value = p.get(key) or []
            if isinstance(value, str):  # a single value typed into a list field
                value = value.splitlines()
            return [str(v).strip() for v in value if str(v).strip() not in NOT_SET]

        def opt_int(key: str) -> int | None:
            value = p.get(key)
            if value in (None, "", 0) or str(value).strip() in NOT_SET:
                return None
            try:
                return int(value)
            except (TypeError, ValueError):
                raise BadRequest(f"{key} must be a number") from None

        return Request(action=text("action"), dry_run=bool(p.get("dry_run", True)),
                       confirm=text("confirm"), survivor_id=text("survivor_id"),
                       merged_id=text("merged_id"), items=many("items"),
                       patients=many("patients"), merge_action_id=opt_int("merge_action_id"),
                       file_id=opt_int("file_id"), source_id=text("source_id"),
                       night=text("night"), input_file=text("input_file"),
                       target_action_id=opt_int("target_action_id"), account_id=text("account_id"),
                       match_mode=text("match_mode") or "full")

    def as_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["confirm"] = bool(self.confirm)  # whether it was given; the word itself is no information
        return d


#: What a form field left "empty" may hold: nothing, or a placeholder dash typed to get past a required field.
NOT_SET = ("", "-", "—")


# --------------------------------------------------------------------------------------------- validation


def validate(req: Request) -> None:
    """Check the request without a database (what the DAG's first task does): action, ids, confirmation."""
    if req.action not in ACTIONS:
        raise BadRequest(f"unknown action {req.action!r}; one of {', '.join(ACTIONS)}")
    need: dict[str, bool] = {
        "merge": bool(req.survivor_id and req.merged_id),
        "unmerge": bool(req.merge_action_id or req.merged_id),
        "keep_separate": bool(req.items) != bool(req.patients) and (not req.patients or len(req.patients) == 2)
        and len(req.items) <= 1,
        "dismiss": bool(req.items),
        "export_worklist": bool(req.file_id or req.source_id or req.night),
        "replay_corrections": bool(req.input_file),
        "undo_import": bool(req.file_id),
        "undo_action": bool(req.target_action_id),
        "decisions": bool(req.input_file),
        "identity_match": req.match_mode in ("full", "incremental"),
    }
    hints = {
        "merge": "survivor_id and merged_id", "unmerge": "merge_action_id (or merged_id)",
        "keep_separate": "one review item key (items) or two patient ids (patients)",
        "dismiss": "one or more review item keys (items)", "export_worklist": "file_id, source_id or night",
        "replay_corrections": "input_file (a corrections CSV)", "undo_import": "file_id",
        "undo_action": "target_action_id", "decisions": "input_file (a decisions JSON or CSV)",
        "identity_match": "match_mode full or incremental (account_id: one account, empty = all)",
    }
    if not need[req.action]:
        raise BadRequest(f"action {req.action} needs {hints[req.action]}")
    if req.items:
        review.check_item_keys(req.items)
    if req.night:
        _night(req.night)
    word = CONFIRM_WORDS.get(req.action)
    if word and not req.dry_run and req.confirm != word:
        raise ConfirmationMissing(
            f"{req.action} without dry run changes patients: set confirm to {word} (it is {'empty' if not req.confirm else 'something else'}); "
            "nothing was changed")


def _night(value: str) -> date:
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise BadRequest("night must be a date YYYY-MM-DD (the UTC date the files were registered)") from None


# --------------------------------------------------------------------------------------------- input files


def allowed_roots(extra: list[str] | None = None) -> list[str]:
    """Where a decisions or corrections file may be read: the runs root, the landing root Variable (passed
    by the DAG as ``extra``) and every configured source's landing location."""
    from include.imports.sources import load_sources

    roots = [str(settings.RUNS_DIR), *(extra or [])]
    roots += [s.landing_path().rstrip("/").rsplit("/", 1)[0] for s in load_sources().values()]
    return [r for r in roots if r]


def read_input_file(location: str, extra_roots: list[str] | None = None) -> str:
    """The text of a decisions / corrections file, refused unless it is a regular file (no symlink) under
    an allowed root."""
    from include.imports import landing

    roots = allowed_roots(extra_roots)
    if "://" in location and not location.startswith("file://"):
        if not any(location.startswith(r.rstrip("/") + "/") for r in roots if "://" in r):
            raise BadRequest("the input file is not under the runs root or a landing location")
        with landing.as_path(location).open("rb") as fh:
            data = fh.read(MAX_INPUT_BYTES + 1)
    else:
        path = Path(location.removeprefix("file://"))
        if not path.is_absolute():
            path = settings.PROJECT_ROOT / path
        if path.is_symlink() or not path.is_file():
            raise BadRequest("the input file does not exist or is not a regular file (symlinks are refused)")
        real = path.resolve()
        local_roots = [Path(r if os.path.isabs(r) else settings.PROJECT_ROOT / r).resolve()
                       for r in roots if "://" not in r]
        if not any(real.is_relative_to(r) for r in local_roots):
            raise BadRequest("the input file is not under the runs root or a landing location")
        fd = os.open(real, os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0))
        with os.fdopen(fd, "rb") as fh:
            data = fh.read(MAX_INPUT_BYTES + 1)
    if len(data) > MAX_INPUT_BYTES:
        raise BadRequest(f"the input file is larger than {MAX_INPUT_BYTES} bytes")
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise BadRequest("the input file is not UTF-8 text") from None


def parse_decisions(text: str) -> list[Request]:
    """A decisions file: a JSON list of objects (``{"action": "merge", "survivor_id": …, "merged_id": …}``,
    ``{"action": "keep_separate", "items": ["import:12"]}``, …) or a CSV with the columns
    ``action,survivor_id,merged_id,item,patient_a,patient_b,merge_action_id``."""
    stripped = text.strip()
    entries: list[dict[str, Any]]
    if stripped.startswith("["):
        try:
            entries = json.loads(stripped)
        except json.JSONDecodeError as exc:
            raise BadRequest(f"the decisions file is not valid JSON (line {exc.lineno})") from None
        if not all(isinstance(e, dict) for e in entries):
            raise BadRequest("every entry of the decisions JSON must be an object")
    else:
        entries = []
        for row in csv.DictReader(io.StringIO(stripped)):
            row = {(k or "").strip(): (v or "").strip() for k, v in row.items()}
            entry: dict[str, Any] = {k: row[k] for k in ("action", "survivor_id", "merged_id", "merge_action_id")
                                     if row.get(k)}
            if row.get("item"):
                entry["items"] = [row["item"]]
            if row.get("patient_a") or row.get("patient_b"):
                entry["patients"] = [row.get("patient_a", ""), row.get("patient_b", "")]
            entries.append(entry)
    if not entries:
        raise BadRequest("the decisions file holds no decisions")
    out = []
    for n, e in enumerate(entries, start=1):
        if e.get("action") not in DECISION_ACTIONS:
            raise BadRequest(f"decision {n}: action must be one of {', '.join(DECISION_ACTIONS)}")
        req = Request.from_params({**e, "dry_run": True})
        try:
            validate(req)
        except BadRequest as exc:
            raise BadRequest(f"decision {n}: {exc}") from None
        out.append(req)
    return out


# --------------------------------------------------------------------------------------------- running


@contextmanager
def _db_errors(action: str) -> Iterator[None]:
    try:
        yield
    except (sa.exc.DBAPIError, psycopg.Error) as exc:
        orig = getattr(exc, "orig", exc)
        diag = getattr(orig, "diag", None)
        sqlstate = getattr(orig, "sqlstate", None) or "unknown"
        where = getattr(diag, "constraint_name", None) or getattr(diag, "table_name", None) or "-"
        raise StewardshipDbError(
            f"stewardship action {action!r} failed: SQLSTATE {sqlstate} ({type(orig).__name__}, {where}); "
            "nothing of it was applied") from None


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
        scope = worklist.Scope(req.file_id, req.source_id or None, _night(req.night) if req.night else None)
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


def open_lists(engine: sa.Engine) -> dict[str, Any]:
    """Open review items and open quarantine rows (ids and counts only): the CLI's lists, the report's tail."""
    with engine.connect() as conn:
        pipeline_schema.ensure(conn)
        items = review.open_items_summary(conn)
        quarantine = worklist.quarantine_summary(conn)
        conn.commit()
    return {"review": items, "quarantine": quarantine}


def write_report(engine: sa.Engine | None, run_id: str, req: Request, ctx: Context,
                 results: list[dict[str, Any]], error: str | None = None,
                 failures: list[dict[str, str]] | None = None) -> str:
    """``<runs>/patient_stewardship/<run id>/report.{json,md}``: request, who, results (ids and counts), and
    what is still open (counts)."""
    directory = worklist.stewardship_dir(run_id)
    data: dict[str, Any] = {
        "run_id": run_id, "actor": ctx.actor, "origin": ctx.origin, "dry_run": ctx.dry_run,
        "request": req.as_dict(),
        "results": [{"action": r["action"], "status": r["status"], "action_id": r["action_id"],
                     "reason_code": r.get("reason_code") or "", "counts": r.get("counts", {}),
                     "ids": r.get("ids", {})} for r in results],
    }
    if error:
        data["error"] = error
    refused = [r for r in results if r.get("status") == "refused"]
    data["status"] = (f"failed: {failures[0]['reason_code']} in {failures[0]['task_id']}" if failures and not results
                      else f"refused: {refused[0].get('reason_code') or 'refused'}" if refused
                      else "dry run" if ctx.dry_run else "done")
    data["failures"] = failures or []
    if engine is not None:
        lists = open_lists(engine)
        data["open_review_items"] = lists["review"]["by_kind"]
        data["open_quarantine_rows"] = lists["quarantine"]["open_rows"]
    path = run_report.write(directory, f"Stewardship {req.action} ({'dry run' if ctx.dry_run else 'applied'})", data)
    for name in ("report.json", "report.md"):
        os.chmod(directory / name, 0o600)  # ids of patients: owner-only like the other PHI-adjacent files
    return str(path)


def cli_run_id() -> str:
    return f"cli__{datetime.now(UTC).strftime('%Y%m%dT%H%M%S')}_{uuid.uuid4().hex[:6]}"


def cli_lease(engine: sa.Engine, run_id: str, wait_s: float = 0):
    """The pipeline lease around one CLI command (the same lease the DAGs take)."""
    from include.core import lease

    return lease.held(engine, "cli:steward", run_id, wait_s=wait_s)
