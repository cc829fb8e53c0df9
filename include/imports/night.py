"""The night around the files: per source counts and quarantine by reason, the patients table gate, and
``night_summary.json``/``.md`` (the ``NightSummary`` of ``include/core/report_models.py``); when the night
imported nothing, why. What the import DAG's ``night_summary`` task calls."""

from __future__ import annotations

import json
import logging
from datetime import date
from typing import Any

import sqlalchemy as sa

from include.core import pipeline_schema, private_files
from include.core.errors import GateFailed
from include.core.report_models import NightSummary
from include.imports import gx_gate, ledger, merge, staging
from include.imports.file_import import resolve_sources, today_utc
from include.imports.file_report import run_dir

log = logging.getLogger(__name__)


def night_summary(engine: sa.Engine, run_id: str, source_ids: list[str] | None = None,
                  today: date | None = None, validate_patients: bool = True) -> NightSummary:
    """Per source: files, rows, inserted, updated, unchanged, duplicates, quarantined by reason; then the
    patients table of the imported accounts through GX. Written to ``<run>/night_summary.json|md``."""
    today = today or today_utc()
    sources = resolve_sources(source_ids)
    per: dict[str, dict[str, Any]] = {
        s.id: {"account_id": s.account_id, "files": 0, "files_by_status": {}, "rows_read": 0, "inserted": 0,
               "updated": 0, "unchanged": 0, "duplicates": 0, "quarantined": 0, "review_items": 0,
               "field_issue_rows": 0, "unsupported_messages": 0, "quarantined_by_reason": {}, "field_issues": {}}
        for s in sources}
    with engine.connect() as conn:
        pipeline_schema.ensure(conn)
        rows = ledger.rows_for_run(conn, run_id)
        q_reasons = staging.run(conn, "night_quarantine_by_reason", run_id=run_id).all()
        issue_reasons = staging.run(conn, "night_field_issues_by_reason", run_id=run_id).all()
        conn.commit()
    for r in rows:
        agg = per.setdefault(r.source_id, {"files": 0, "files_by_status": {}, "quarantined_by_reason": {},
                                           "field_issues": {}})
        agg["files"] += 1
        agg["files_by_status"][r.status] = agg["files_by_status"].get(r.status, 0) + 1
        for k, v in r.counts().items():
            agg[k] = agg.get(k, 0) + v
    for src, code, n in q_reasons:
        per.setdefault(src, {}).setdefault("quarantined_by_reason", {})[code] = int(n)
    for src, code, n in issue_reasons:  # field issues by reason (rows imported without the value)
        per.setdefault(src, {}).setdefault("field_issues", {})[code] = int(n)
    held = [r.file_id for r in rows if r.status == "held"]
    unreconciled = [r.file_id for r in rows if r.status in ("merged", "done") and not r.reconciled]
    names = {str(r.file_id): r.file_name for r in rows if r.file_name}
    nothing = None if rows else explain_empty_night(engine, run_id, [s.id for s in sources])
    gate = None
    if validate_patients:
        gate = gx_gate.patients_table(engine, [s.account_id for s in sources], today, run_dir(run_id) / "gx")
    out = run_dir(run_id)
    summary = NightSummary(run_id, per, gate.success if gate else None, held, unreconciled,
                           str(out / "night_summary.json"), names, nothing)
    private_files.write_text(out / "night_summary.json", json.dumps(summary.as_xcom(), indent=2, sort_keys=True))
    lines = [f"# Nightly clinic import {run_id}", "",
             f"- patients table gate: {'passed' if summary.gx_success else ('FAILED' if gate else 'skipped')}",
             f"- files held back: {_named(held, names)}", f"- files not reconciled: {_named(unreconciled, names)}",
             *([f"- no file imported: {nothing}"] if nothing else []), "",
             "| source | files | rows | inserted | updated | unchanged | duplicates | quarantined | review "
             "| rows with field issues | unsupported messages |",
             "|---|---|---|---|---|---|---|---|---|---|---|"]
    for sid, a in per.items():
        lines.append(f"| {sid} | {a.get('files', 0)} | {a.get('rows_read', 0)} | {a.get('inserted', 0)} | "
                     f"{a.get('updated', 0)} | {a.get('unchanged', 0)} | {a.get('duplicates', 0)} | "
                     f"{a.get('quarantined', 0)} | {a.get('review_items', 0)} | {a.get('field_issue_rows', 0)} | "
                     f"{a.get('unsupported_messages', 0)} |")
    lines += ["", "## Quarantined by reason", ""]
    for sid, a in per.items():
        for code, n in sorted(a.get("quarantined_by_reason", {}).items()):
            lines.append(f"- {sid}: `{code}` {n}")
    lines += ["", "## Field issues by reason (rows imported without the value)", ""]
    for sid, a in per.items():
        for code, n in sorted(a.get("field_issues", {}).items()):
            lines.append(f"- {sid}: `{code}` {n}")
    private_files.write_text(out / "night_summary.md", "\n".join(lines) + "\n")
    log.info("night summary written: %d file(s), held %s, unreconciled %s", len(rows), held, unreconciled)
    if unreconciled:
        raise merge.ReconciliationFailed(f"files {unreconciled} are not reconciled; see {summary.summary_path}")
    if gate is not None and not gate.success:
        raise GateFailed(f"patients table gate failed ({', '.join(gate.failed)}); see {gate.md_path}")
    return summary


def _named(file_ids: list[int], names: dict[str, str]) -> str:
    return ", ".join(f"{names.get(str(f), 'file')} ({f})" for f in file_ids) or "none"


#: How far back :func:`explain_empty_night` looks for files other runs took.
OTHER_RUNS_HOURS = 6


def explain_empty_night(engine: sa.Engine, run_id: str, source_ids: list[str]) -> str:
    """Why a night registered no file: another run of the import took them (named, with its file count),
    else there was nothing in the sources' ``incoming/``. Run ids and counts only."""
    with engine.connect() as conn:
        others = staging.run(conn, "night_files_of_other_runs", source_ids=source_ids, run_id=run_id,
                             hours=OTHER_RUNS_HOURS).all()
        conn.rollback()
    sources = ", ".join(source_ids) or "none configured"
    if others:
        taken = "; ".join(f"{o.files} file{'s' if o.files != 1 else ''} by run {o.dag_run_id}" for o in others)
        return (f"discovered 0 files: the files of the last {OTHER_RUNS_HOURS} hours were taken by other runs "
                f"({taken}), e.g. the scheduled night that \"Unpause on trigger\" started; see their reports")
    return f"discovered 0 files: nothing was waiting in incoming/ of the sources ({sources})"
