"""``python -m include.cli steward ...``: the stewardship actions from a shell (same rules as the DAG).

Dry run by default: ``--apply`` makes the change, and a destructive action also needs ``--confirm WORD``
(MERGE, UNMERGE, UNDO_IMPORT, REPLAY, UNDO, APPLY). Every action takes the pipeline lease, is recorded
with the OS user as the actor, and writes a report under ``<runs>/patient_stewardship/<cli run id>/``.
Output: ids, counts and reason codes only.

    steward list review | quarantine [--file-id N | --source S | --night D] | actions
    steward merge --survivor P1 --merged P2 [--item import:12]
    steward unmerge --merge-action N | --merged P2
    steward keep-separate --item import:12 | --patients P1 P2
    steward dismiss --item import:12 [--item backfill:invite:I:reason ...]
    steward export-worklist --file-id N | --source S | --night YYYY-MM-DD
    steward replay-corrections --file corrections.csv
    steward undo-import --file-id N
    steward undo --action-id N
    steward decisions --file decisions.json
"""

from __future__ import annotations

import argparse
import sys
from typing import Any

from include.core import db
from include.core.errors import ConfirmationMissing
from include.core.locks import PipelineBusy
from include.stewardship import actions, dispatch
from include.stewardship import report as steward_report
from include.stewardship import request as steward_request
from include.stewardship.errors import StewardshipError


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m include.cli steward", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = p.add_subparsers(dest="command", required=True)

    def action(name: str, help_text: str) -> argparse.ArgumentParser:
        a = sub.add_parser(name, help=help_text)
        a.add_argument("--apply", action="store_true", help="make the change (default: dry run)")
        a.add_argument("--confirm", default="", help="the confirmation word of a destructive action")
        a.add_argument("--lease-wait", type=float, default=0, help="seconds to wait for the pipeline lease")
        return a

    lst = sub.add_parser("list", help="open review items, open quarantine rows, recent actions (ids, counts)")
    lst.add_argument("what", choices=("review", "quarantine", "actions"))
    lst.add_argument("--file-id", type=int)
    lst.add_argument("--source")
    lst.add_argument("--night")
    a = action("merge", "merge a patient into a survivor")
    a.add_argument("--survivor", required=True)
    a.add_argument("--merged", required=True)
    a.add_argument("--item", action="append", default=[])
    a = action("unmerge", "take back a merge")
    a.add_argument("--merge-action", type=int)
    a.add_argument("--merged")
    a = action("keep-separate", "remember that a pair are different people")
    a.add_argument("--item")
    a.add_argument("--patients", nargs=2)
    a = action("dismiss", "resolve review items without a change")
    a.add_argument("--item", action="append", required=True)
    a = action("export-worklist", "quarantine worklist CSV (owner-only)")
    a.add_argument("--file-id", type=int)
    a.add_argument("--source")
    a.add_argument("--night")
    a = action("replay-corrections", "import corrected quarantine rows")
    a.add_argument("--file", required=True)
    a = action("undo-import", "take back one import file")
    a.add_argument("--file-id", type=int, required=True)
    a = action("undo", "undo a recorded action (merge, keep-separate, dismiss, replay)")
    a.add_argument("--action-id", type=int, required=True)
    a = action("decisions", "apply a decisions file (JSON or CSV)")
    a.add_argument("--file", required=True)
    return p


def to_request(args: argparse.Namespace) -> steward_request.Request:
    name = args.command.replace("-", "_")
    name = "undo_action" if name == "undo" else name
    return steward_request.Request(
        action=name, dry_run=not args.apply, confirm=args.confirm,
        survivor_id=getattr(args, "survivor", "") or "", merged_id=getattr(args, "merged", "") or "",
        items=_items(args), patients=list(getattr(args, "patients", None) or []),
        merge_action_id=getattr(args, "merge_action", None), file_id=getattr(args, "file_id", None),
        source_id=getattr(args, "source", "") or "", night=getattr(args, "night", "") or "",
        input_file=getattr(args, "file", "") or "", target_action_id=getattr(args, "action_id", None))


def _items(args: argparse.Namespace) -> list[str]:
    item = getattr(args, "item", None)
    if item is None:
        return []
    return list(item) if isinstance(item, list) else [item]


def _print_result(r: dict[str, Any]) -> None:
    counts = " ".join(f"{k}={v}" for k, v in r.get("counts", {}).items())
    head = f"{r['action']}: {r['status']} (action {r['action_id']})"
    if r.get("reason_code"):
        head += f" reason={r['reason_code']}"
    print(f"{head} {counts}".rstrip())
    if r.get("status") == "refused" and r.get("message"):
        print(f"  {r['message']}")
    for k, v in (r.get("ids") or {}).items():
        if v:
            print(f"  {k}: {', '.join(str(x) for x in v)}")


def print_lists(engine: Any, what: str, args: argparse.Namespace) -> None:
    from include.core import pipeline_schema
    from include.stewardship import review, worklist

    with engine.connect() as conn:
        pipeline_schema.ensure(conn)
        if what == "review":
            s = review.open_items_summary(conn)
            print(f"open review items: {s['open_items']}")
            for kind, n in sorted(s["by_kind"].items()):
                print(f"  {kind}: {n}")
            for it in s["items"]:
                pair = " ".join(x for x in (it["patient_id"], it["candidate_patient_id"]) if x)
                print(f"  {it['item']}  {it['kind']}  file={it['file_id'] or '-'}  patients={pair or '-'}")
        elif what == "quarantine":
            scope = None
            if args.file_id or args.source or args.night:
                scope = worklist.Scope(args.file_id, args.source, steward_request.parse_night(args.night) if args.night else None)
            s = worklist.quarantine_summary(conn, scope)
            print(f"open quarantine rows: {s['open_rows']}")
            for r in s["by_file_and_reason"]:
                print(f"  file {r['file_id']} ({r['source_id']})  {r['reason_code']}: {r['rows']}")
        else:
            for r in actions.recent(conn):
                print(f"  {r['action_id']}  {r['created_at']:%Y-%m-%d %H:%M:%S}  {r['action']}  {r['status']}"
                      f"{'  reason=' + r['reason_code'] if r['reason_code'] else ''}  by {r['actor']} ({r['origin']})"
                      f"{'  undoes ' + str(r['undoes']) if r['undoes'] else ''}"
                      f"{'  undone by ' + str(r['undone_by']) if r['undone_by'] else ''}")
        conn.commit()


def main(argv: list[str]) -> int:
    args = build_parser().parse_args(argv)
    engine = db.app_engine()
    if args.command == "list":
        print_lists(engine, args.what, args)
        return 0
    req = to_request(args)
    try:
        steward_request.validate(req)
    except (StewardshipError, ConfirmationMissing) as exc:
        print(f"steward: {exc}", file=sys.stderr)
        return 2
    ctx = actions.Context.for_cli(dry_run=req.dry_run)
    run_id = dispatch.cli_run_id()
    try:
        with dispatch.cli_lease(engine, run_id, wait_s=args.lease_wait):
            results = [r.as_dict() for r in dispatch.execute(engine, req, ctx, run_id)]
    except PipelineBusy as exc:
        print(f"steward: {exc}", file=sys.stderr)
        return 3
    except (StewardshipError, ConfirmationMissing) as exc:
        print(f"steward: {exc}", file=sys.stderr)
        steward_report.write_report(None, run_id, req, ctx, [], error=str(exc))
        return 1
    for r in results:
        _print_result(r)
    report = steward_report.write_report(engine, run_id, req, ctx, results)
    print(f"report: {report}")
    if req.dry_run:
        print("dry run: nothing was changed (add --apply" + (", --confirm " + actions.CONFIRM_WORDS[req.action]
                                                             if req.action in actions.CONFIRM_WORDS else "") + ")")
    return 1 if any(r["status"] == "refused" for r in results) else 0
