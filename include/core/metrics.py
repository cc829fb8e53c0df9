"""The pipeline's metrics, through Airflow's own metrics path (StatsD, Datadog or OpenTelemetry, whichever
``[metrics]`` of the Airflow configuration turns on; nothing when none is on).

One function per fact, so every area (imports, gates, the backfill, the identity matcher, housekeeping)
emits the same names. Values are counts, ratios, rates and 0/1; tags are ids (source id, gate rule, phase,
DAG id), never a value from a record. Names and tags are listed in ``docs/operating-alerts.md``:

=====================================  =======  ===========================================================
name                                   kind     tags
=====================================  =======  ===========================================================
``genascope.import.<count>``           gauge    ``source``, ``dag_id`` (count: files, rows_read, inserted,
                                                updated, unchanged, duplicates, quarantined,
                                                field_issue_rows, review_items, held_files,
                                                rejected_files, held_rows)
``genascope.import.quarantine_ratio``  gauge    ``source``, ``dag_id`` (quarantined / rows read)
``genascope.import.field_issue_ratio`` gauge    ``source``, ``dag_id``
``genascope.import.attention``         gauge    ``dag_id``: reasons the night needs attention (0 = quiet)
``genascope.gate.passed``              gauge    ``gate``, ``dag_id``: 1 passed, 0 failed
``genascope.gate.failed``              counter  ``gate``, ``dag_id``
``genascope.backfill.rows_done``       gauge    ``phase``; also ``rows_total`` and ``rows_per_s``
``genascope.identity.pairs``           gauge    ``decision`` (match, review, non_match ...)
``genascope.identity.review_queue``    gauge    (none): open review items
``genascope.notify.sent``              counter  ``kind`` (task_failed, night_attention, approval_waiting,
                                                deadline_missed)
``genascope.housekeeping.<what>``      gauge    ``action`` (removed, kept), ``dry_run``
=====================================  =======  ===========================================================

Plain StatsD has no tags: set ``[metrics] statsd_influxdb_enabled = True`` (tags appended as
``name,tag=value``) or use the Datadog/OpenTelemetry path, which carry them natively.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Mapping
from typing import Any

log = logging.getLogger(__name__)

PREFIX = "genascope"
_SAFE = re.compile(r"[^A-Za-z0-9_.-]")


def _stats() -> Any:
    """Airflow's stats module, initialized from the Airflow configuration when this process has not done it
    (a task's runner does; ``dag.test()`` and plain scripts do not)."""
    from airflow.sdk.observability import stats

    try:
        from airflow.sdk._shared.observability.metrics import stats as backend
        initialized = backend._factory is not None
    except ImportError:  # another layout of the shared package: trust the runner
        initialized = True
    if not initialized:
        configure_from_airflow()
    return stats


def configure_from_airflow() -> None:
    """(Re)build the stats backend from ``[metrics]`` of the Airflow configuration (tests call it after
    pointing ``AIRFLOW__METRICS__*`` at their receiver)."""
    from airflow.sdk.configuration import conf
    from airflow.sdk.observability import stats
    from airflow.sdk.observability.metrics import stats_utils

    stats.initialize(factory=stats_utils.get_stats_factory(),
                     export_legacy_names=conf.getboolean("metrics", "legacy_names_on", fallback=True))


def _tag(value: Any) -> str:
    return _SAFE.sub("_", str(value))[:100]


def _tags(tags: Mapping[str, Any] | None) -> dict[str, str]:
    return {k: _tag(v) for k, v in (tags or {}).items() if v is not None}


def gauge(name: str, value: float, **tags: Any) -> None:
    """``genascope.<name>`` = value (a metric never fails the task that emits it)."""
    try:
        _stats().gauge(f"{PREFIX}.{name}", value, tags=_tags(tags))
    except Exception as exc:  # noqa: BLE001 - metrics are best effort; say so without values
        log.warning("metric %s not sent: %s", name, type(exc).__name__)


def incr(name: str, count: int = 1, **tags: Any) -> None:
    try:
        _stats().incr(f"{PREFIX}.{name}", count, tags=_tags(tags))
    except Exception as exc:  # noqa: BLE001 - best effort, as gauge()
        log.warning("metric %s not sent: %s", name, type(exc).__name__)


# --------------------------------------------------------------------------------------------- per area

IMPORT_COUNTS = ("files", "rows_read", "inserted", "updated", "unchanged", "duplicates", "quarantined",
                 "field_issue_rows", "review_items", "held_files", "rejected_files", "held_rows")


def import_night(dag_id: str, per_source: Mapping[str, Mapping[str, Any]]) -> None:
    """The night's counts per source (``per_source[source_id][count]``, see :data:`IMPORT_COUNTS`), and the
    quarantine and field-issue ratios."""
    for source, counts in per_source.items():
        for count in IMPORT_COUNTS:
            gauge(f"import.{count}", int(counts.get(count) or 0), source=source, dag_id=dag_id)
        rows = int(counts.get("rows_read") or 0)
        gauge("import.quarantine_ratio", (int(counts.get("quarantined") or 0) / rows) if rows else 0.0,
              source=source, dag_id=dag_id)
        gauge("import.field_issue_ratio", (int(counts.get("field_issue_rows") or 0) / rows) if rows else 0.0,
              source=source, dag_id=dag_id)


def gate(rule: str, passed: bool, *, dag_id: str) -> None:
    """One quality gate's result."""
    gauge("gate.passed", 1 if passed else 0, gate=rule, dag_id=dag_id)
    if not passed:
        incr("gate.failed", gate=rule, dag_id=dag_id)


def backfill_progress(phase: str, rows_done: int, rows_total: int | None, rows_per_s: float | None) -> None:
    """Backfill progress of one phase (call it per batch or per progress log line)."""
    gauge("backfill.rows_done", int(rows_done), phase=phase)
    if rows_total is not None:
        gauge("backfill.rows_total", int(rows_total), phase=phase)
    if rows_per_s is not None:
        gauge("backfill.rows_per_s", round(float(rows_per_s), 1), phase=phase)


def identity_pairs(pairs_by_decision: Mapping[str, int], review_queue_size: int | None = None) -> None:
    """For the identity matcher: pairs scored per decision, and the open review queue's size."""
    for decision, n in pairs_by_decision.items():
        gauge("identity.pairs", int(n), decision=decision)
    if review_queue_size is not None:
        gauge("identity.review_queue", int(review_queue_size))


def notification_sent(kind: str) -> None:
    incr("notify.sent", kind=kind)


def housekeeping(counts: Mapping[str, int], *, action: str, dry_run: bool) -> None:
    for what, n in counts.items():
        gauge(f"housekeeping.{what}", int(n), action=action, dry_run=str(dry_run).lower())
