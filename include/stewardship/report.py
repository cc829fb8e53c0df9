"""The stewardship run report (``<runs root>/patient_stewardship/<run id>/report.{json,md}``, the
``StewardshipReport`` of include/core/report_models.py) and the open lists it ends with (ids and counts)."""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa

from include.core import pipeline_schema, run_report
from include.core.report_models import StewardshipReport
from include.stewardship import review, worklist
from include.stewardship.actions import Context
from include.stewardship.request import Request


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
    data: StewardshipReport = {
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
    # ids of patients: owner-only (0600) like every file run_report writes
    path = run_report.write(directory, f"Stewardship {req.action} ({'dry run' if ctx.dry_run else 'applied'})", data)
    return str(path)
