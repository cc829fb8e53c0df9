"""Does the night need attention? The last task of ``clinic_patient_import`` asks, says so, emits the
night's metrics and (if ``fail_night_on_attention``) fails so the grid shows it.

A night needs attention when (reason codes, each with a count):

- ``file_held:<reason>`` / ``file_rejected:<reason>``: files held back (reject ratio, data-quality gate)
  or rejected (empty, unreadable, ...), per reason;
- ``quarantine_ratio_above_threshold:<source>`` / ``field_issue_ratio_above_threshold:<source>``: the
  source's rows quarantined (or imported with field issues) over its threshold (count: the rows);
- ``expected_delivery_missing:<source>``: a source whose ``expect`` (clinic sources YAML) says it delivers
  on this night had nothing in ``incoming/``;
- ``gate_failed:<gate>``: a data-quality gate failed (a file's staged batch, or the patients table);
- ``night_summary_missing``: the summary task did not finish (its own failure message says why).
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import date
from typing import Any

from include.core import metrics
from include.notify.settings import NotificationSettings

log = logging.getLogger(__name__)

#: Ledger reason codes that are a data-quality gate's verdict.
GATE_REASONS = {"dq_gate_failed": "staged_batch"}


@dataclass
class NightVerdict:
    reasons: dict[str, int] = field(default_factory=dict)
    per_source: dict[str, dict[str, int]] = field(default_factory=dict)
    sources: list[str] = field(default_factory=list)

    @property
    def needs_attention(self) -> bool:
        return bool(self.reasons)

    def totals(self) -> dict[str, int]:
        keys = ("files", "rows_read", "inserted", "updated", "quarantined", "field_issue_rows", "held_files",
                "rejected_files")
        return {k: sum(c.get(k, 0) for c in self.per_source.values()) for k in keys}

    def as_xcom(self) -> dict[str, Any]:
        return {"needs_attention": self.needs_attention, "reasons": self.reasons, "per_source": self.per_source,
                "sources": self.sources}


def expected_on(schedule: str, night: date) -> bool:
    return schedule == "daily" or (schedule == "weekdays" and night.weekday() < 5)


def _add(d: dict[str, int], key: str, n: int = 1) -> None:
    d[key] = d.get(key, 0) + n


def evaluate(ledger_rows: Iterable[Any], sources: Iterable[Any], settings: NotificationSettings, night: date, *,
             summary: Mapping[str, Any] | None, summary_expected: bool = True) -> NightVerdict:
    """The verdict from the night's ledger rows (``include.imports.ledger.LedgerRow``), the sources run
    (``SourceConfig``: id, ``expect``) and the night summary's XCom (``None`` when it did not finish)."""
    v = NightVerdict()
    flagged: set[str] = set()
    for s in sources:
        v.per_source[s.id] = {k: 0 for k in metrics.IMPORT_COUNTS}
    for r in ledger_rows:
        agg = v.per_source.setdefault(r.source_id, {k: 0 for k in metrics.IMPORT_COUNTS})
        agg["files"] += 1
        for k, n in r.counts().items():
            if k in agg:
                agg[k] += n
        held = r.status == "held" or (r.status == "dry_run" and r.reason_code in ("reject_ratio_exceeded",
                                                                                   "dq_gate_failed"))
        rejected = r.status == "rejected" or (r.status == "dry_run" and r.reason_code and not held)
        if held:
            agg["held_files"] += 1
            agg["held_rows"] += int(r.rows_read or 0)
            _add(v.reasons, f"file_held:{r.reason_code}")
            flagged.add(r.source_id)
        elif rejected:
            agg["rejected_files"] += 1
            _add(v.reasons, f"file_rejected:{r.reason_code}")
            flagged.add(r.source_id)
        if r.reason_code in GATE_REASONS:
            _add(v.reasons, f"gate_failed:{GATE_REASONS[r.reason_code]}")
    for s in sources:
        agg = v.per_source[s.id]
        rows = agg["rows_read"]
        if rows and agg["quarantined"] / rows > settings.quarantine_max(s.id):
            _add(v.reasons, f"quarantine_ratio_above_threshold:{s.id}", agg["quarantined"])
            flagged.add(s.id)
        if rows and agg["field_issue_rows"] / rows > settings.field_issue_max(s.id):
            _add(v.reasons, f"field_issue_ratio_above_threshold:{s.id}", agg["field_issue_rows"])
            flagged.add(s.id)
        if agg["files"] == 0 and expected_on(getattr(s, "expect", "none"), night):
            _add(v.reasons, f"expected_delivery_missing:{s.id}")
            flagged.add(s.id)
    if summary is None and summary_expected:
        _add(v.reasons, "night_summary_missing")
    elif summary is not None and summary.get("gx_success") is False:
        _add(v.reasons, "gate_failed:patients_table")
    v.sources = sorted(flagged)
    return v


def emit_metrics(dag_id: str, verdict: NightVerdict, rows: Iterable[Any], summary: Mapping[str, Any] | None) -> None:
    metrics.import_night(dag_id, verdict.per_source)
    for r in rows:
        if r.gx_success is not None:
            metrics.gate(f"staged_batch.{r.source_id}", bool(r.gx_success), dag_id=dag_id)
    if summary is not None and summary.get("gx_success") is not None:
        metrics.gate("patients_table", bool(summary["gx_success"]), dag_id=dag_id)
    metrics.gauge("import.attention", len(verdict.reasons), dag_id=dag_id)


def check_night_task(source_ids: list[str] | None, *, dry_run: bool = False) -> dict[str, Any]:
    """The body of ``clinic_patient_import``'s last task (trigger rule ``all_done``)."""
    from airflow.sdk import get_current_context

    from include.core.db import app_engine
    from include.imports import file_import, ledger
    from include.notify import channels
    from include.notify import settings as notify_settings
    from include.notify.callbacks import NightNeedsAttention
    from include.notify.messages import Message

    ctx = get_current_context()
    ti, dag_id, run_id = ctx["ti"], ctx["dag"].dag_id, ctx["run_id"]
    settings = notify_settings.load()
    sources = file_import.resolve_sources(source_ids)
    with app_engine().connect() as conn:
        rows = ledger.rows_for_run(conn, run_id)
        conn.commit()
    summary = ti.xcom_pull(task_ids="night_summary")
    logical = ctx.get("logical_date") or ctx["dag_run"].run_after
    verdict = evaluate(rows, sources, settings, logical.date(), summary=summary)

    if not dry_run:  # a dry run's counts are what would happen: not the night's numbers on a dashboard
        emit_metrics(dag_id, verdict, rows, summary)

    if not verdict.needs_attention:
        log.info("the night needs no attention: %s", verdict.totals())
        return verdict.as_xcom()
    log.warning("the night needs attention: %s", verdict.reasons)
    message = Message.build("night_attention", dag_id, run_id, ti.task_id, verdict.reasons, verdict.totals(),
                            base_url=channels.base_url(settings), sources=tuple(verdict.sources))
    channels.send(message, settings, ctx)
    ti.xcom_push(key="attention", value=verdict.as_xcom())
    if settings.fail_night_on_attention and not dry_run:
        raise NightNeedsAttention(
            f"the night needs attention ({', '.join(sorted(verdict.reasons))}); the message went to the "
            "configured channels; see the Report tab")
    return verdict.as_xcom()
