"""The matcher's steps in the DAGs, as plain functions (ids and counts in, ids and counts out).

* ``after_import_night``: ``clinic_patient_import``'s ``match_identities`` task: an incremental pass per
  account the night touched; writes ``identity.json`` next to the night summary.
* ``after_backfill``: ``patient_first_migration``'s ``identity_match_report`` task: a full pass per account
  over the migrated patients. A report step: it never raises (an account that fails is reported by id and
  exception type), so it can never block finalize.
* ``on_demand``: the stewardship DAG's ``identity_match`` action.
"""

from __future__ import annotations

import json
import logging
from typing import Any

import sqlalchemy as sa

from include.core import metrics, private_files, run_report
from include.identity import matcher
from include.identity.results import MatchReport

log = logging.getLogger(__name__)


def compact(report: MatchReport) -> dict[str, Any]:
    """The XCom / report form: per account ids, counts, pairs per blocking rule, threshold, model."""
    return {
        "trigger": report.trigger, "accounts": len(report.runs), "queued": sum(r.queued for r in report.runs),
        "runs": [{k: v for k, v in r.as_dict().items() if k not in ("queue_by_kind",)} for r in report.runs],
        "queue_by_kind": report.runs[-1].queue_by_kind if report.runs else {},
        "failed_accounts": report.skipped,
    }


def _emit_metrics(report: MatchReport) -> None:
    """The pass's pair counts and the open queue's size through the pipeline's metrics path (counts only)."""
    pairs = {key: sum(int(getattr(r, key)) for r in report.runs)
             for key in ("pairs_scored", "above_threshold", "queued", "already_open", "suppressed_decided")}
    queue = report.runs[-1].queue_by_kind if report.runs else {}
    open_items = sum(int(v.get("open", 0)) if isinstance(v, dict) else int(v) for v in queue.values())
    metrics.identity_pairs(pairs, review_queue_size=open_items if report.runs else None)


def _write(dag_id: str, run_id: str, data: dict[str, Any]) -> str:
    directory = run_report.run_dir(dag_id, run_id)
    path = directory / "identity.json"
    private_files.write_text(path, json.dumps(data, indent=2, default=str))
    return str(path)


def after_import_night(engine: sa.Engine, dag_id: str, run_id: str) -> dict[str, Any]:
    report = matcher.run_night(engine, run_id)
    _emit_metrics(report)
    data = compact(report)
    data["report"] = _write(dag_id, run_id, data)
    log.info("matcher after the night: %d account(s), %d pair(s) queued", data["accounts"], data["queued"])
    return data


def after_backfill(engine: sa.Engine, dag_id: str, run_id: str) -> dict[str, Any]:
    try:
        report = matcher.run_accounts(engine, None, trigger="backfill", mode="full", dag_run_id=run_id)
        _emit_metrics(report)
        data = compact(report)
        data["report"] = _write(dag_id, run_id, data)
    except Exception as exc:  # a report step: never a gate
        log.warning("matcher after the backfill failed (%s); finalize is not affected", type(exc).__name__)
        return {"state": "failed", "error": type(exc).__name__}
    log.info("matcher after the backfill: %d account(s), %d pair(s) queued, %d account(s) failed",
             data["accounts"], data["queued"], len(data["failed_accounts"]))
    return data


def on_demand(engine: sa.Engine, account_ids: list[str] | None, mode: str, run_id: str | None) -> dict[str, Any]:
    report = matcher.run_accounts(engine, account_ids, trigger="on_demand", mode=mode, dag_run_id=run_id)
    _emit_metrics(report)
    return compact(report)
