"""``python -m include.cli identity ...``: the matcher on demand (ids and counts only).

    identity match --account ID [--full | --incremental]   one account (incremental: patients changed
                                                           since the account's last finished pass)
    identity match --all [--full | --incremental]          every account with patients
    identity report [--account ID]                         queue size by kind, the last runs, precision /
                                                           recall of the threshold against decisions
"""

from __future__ import annotations

import argparse
import json

import sqlalchemy as sa

from include.core import db, pipeline_schema
from include.identity import matcher
from include.identity.config import MatcherSettings


def main(argv: list[str]) -> int:
    ap = argparse.ArgumentParser(prog="python -m include.cli identity", description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = ap.add_subparsers(dest="action", required=True)
    m = sub.add_parser("match", help="score one account (or all) and queue probable duplicates")
    who = m.add_mutually_exclusive_group(required=True)
    who.add_argument("--account", help="account id")
    who.add_argument("--all", action="store_true", help="every account with patients")
    mode = m.add_mutually_exclusive_group()
    mode.add_argument("--full", dest="mode", action="store_const", const="full", help="every pair (default)")
    mode.add_argument("--incremental", dest="mode", action="store_const", const="incremental",
                      help="only pairs with a patient created or changed since the account's last pass")
    m.add_argument("--json", action="store_true", help="print the run report as JSON")
    r = sub.add_parser("report", help="queue size by kind, last runs, precision/recall against decisions")
    r.add_argument("--account", default=None)
    args = ap.parse_args(argv)
    engine = db.app_engine()
    cfg = MatcherSettings.from_env()
    if args.action == "match":
        report = matcher.run_accounts(engine, None if args.all else [args.account], trigger="on_demand",
                                      mode=args.mode or "full", cfg=cfg)
        if args.json:
            print(json.dumps(report.as_dict(), indent=2, default=str))
        for run in report.runs:
            print(f"match run {run.match_run_id}: account {run.account_id} ({run.mode}, model {run.model_name}, "
                  f"threshold {run.threshold}): {run.patients} patients, {run.pairs_scored} pairs scored, "
                  f"{run.above_threshold} above, {run.queued} queued, {run.already_open} already open, "
                  f"{run.suppressed_decided} decided before, {run.seconds}s")
            print("  pairs by blocking rule: " + ", ".join(f"{k} {v}" for k, v in run.pairs_by_rule.items()))
        for account, why in report.skipped.items():
            print(f"account {account}: FAILED ({why})")
        return 1 if report.skipped else 0
    with engine.connect() as conn:
        pipeline_schema.ensure(conn)
        print(json.dumps(summary(conn, args.account, cfg.threshold), indent=2, default=str))
    return 0


def summary(conn: sa.Connection, account_id: str | None, threshold: float) -> dict:
    """What the report and the UI show: queue by kind, the last runs' counts, decisions' precision/recall."""
    runs = [dict(r) for r in conn.execute(sa.text(
        "SELECT match_run_id, account_id, mode, trigger, model_name, threshold, status, counts, started_at, "
        "finished_at, report -> 'pairs_by_rule' AS pairs_by_rule FROM patient_pipeline.match_run "
        "WHERE CAST(:a AS text) IS NULL OR account_id = :a ORDER BY match_run_id DESC LIMIT 10"),
        {"a": account_id}).mappings()]
    return {"threshold": threshold, "queue_by_kind": matcher.queue_by_kind(conn, account_id),
            "decisions": matcher.decision_metrics(conn, threshold, account_id).as_dict(), "last_runs": runs}
