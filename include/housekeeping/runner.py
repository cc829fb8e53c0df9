"""One housekeeping sweep end to end (the ``pipeline_housekeeping`` DAG's task bodies call these): the
database, the runs root, every source's processed/ and rejected/ deliveries; then the report
(``<runs root>/pipeline_housekeeping/<run id>/report.{json,md}``): what was removed (counts), what was
kept because something still needs it, the cutoffs. Counts only."""

from __future__ import annotations

import logging
from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa

from include.core import metrics, pipeline_dags, run_report, storage
from include.housekeeping import database, files
from include.housekeeping.settings import RetentionSettings

log = logging.getLogger(__name__)

DAG_ID = pipeline_dags.HOUSEKEEPING.dag_id


def as_of_time(value: str | None) -> datetime:
    """The sweep's "now": the Param ``as_of`` (ISO 8601, UTC if no zone) or the current time."""
    if not value:
        return datetime.now(UTC)
    ts = datetime.fromisoformat(value.replace("Z", "+00:00"))
    return ts if ts.tzinfo else ts.replace(tzinfo=UTC)


def cutoffs(retention: RetentionSettings, as_of: datetime) -> dict[str, str]:
    return {k: retention.cutoff(k, as_of).isoformat(timespec="seconds")
            for k in RetentionSettings.model_fields if k.endswith("_days")}


def effective_dry_run(param_dry_run: bool, run_type: str, retention: RetentionSettings) -> bool:
    """A manual run does what its Param says; a scheduled run removes only once ``apply`` is set."""
    if str(run_type).lower().endswith("scheduled"):
        return not retention.apply
    return bool(param_dry_run)


def sweep_database(engine: sa.Engine, retention: RetentionSettings, as_of: datetime, *,
                   dry_run: bool) -> dict[str, Any]:
    result = database.sweep(engine, retention, as_of, dry_run=dry_run)
    log.info("database: removed %s, kept (needed) %s%s", result.removed, result.kept_needed,
             " (dry run: rolled back)" if dry_run else "")
    return {"removed": result.removed, "kept_needed": result.kept_needed}


def sweep_files(engine: sa.Engine, retention: RetentionSettings, as_of: datetime, sources: list[Any],
                landing_root: str | None, *, dry_run: bool) -> dict[str, Any]:
    """The runs root's PHI files, then each source's processed/ and rejected/ (``sources``: SourceConfig)."""
    from include.imports import landing

    run_files = files.sweep_run_files(
        storage.runs_root_location(), retention.cutoff("run_files_days", as_of), dry_run=dry_run,
        open_quarantine=lambda ids: database.files_with_open_quarantine(engine, ids))
    processed, rejected = files.FileSweep(), files.FileSweep()
    for source in sources:
        base = landing.landing_for(source, landing_root).rstrip("/")
        for folder, key, total in (("processed", "processed_days", processed), ("rejected", "rejected_days", rejected)):
            one = files.sweep_deliveries(f"{base}/{folder}", retention.cutoff(key, as_of), dry_run=dry_run)
            total.removed += one.removed
            total.kept_young += one.kept_young
    out = {"removed": {"run_files": run_files.removed, "processed_deliveries": processed.removed,
                       "rejected_deliveries": rejected.removed},
           "kept_needed": {"run_files_open_quarantine": run_files.kept_needed},
           "kept_younger_than_age": {"run_files": run_files.kept_young, "processed_deliveries": processed.kept_young,
                                     "rejected_deliveries": rejected.kept_young}}
    log.info("files: %s%s", out, " (dry run: nothing removed)" if dry_run else "")
    return out


def write_report(run_id: str, retention: RetentionSettings, as_of: datetime, db_part: dict[str, Any] | None,
                 file_part: dict[str, Any] | None, *, dry_run: bool) -> dict[str, Any]:
    removed = {**((db_part or {}).get("removed") or {}), **((file_part or {}).get("removed") or {})}
    kept = {**((db_part or {}).get("kept_needed") or {}), **((file_part or {}).get("kept_needed") or {})}
    data = {"dry_run": dry_run, "as_of": as_of.isoformat(timespec="seconds"),
            "status": ("dry run: nothing removed, counts are what a real run removes" if dry_run else "done")
            if db_part is not None and file_part is not None else "incomplete: a sweep task failed (see its log)",
            "removed" if not dry_run else "would_remove": removed,
            "kept_because_needed": kept,
            "kept_younger_than_age": (file_part or {}).get("kept_younger_than_age") or {},
            "cutoffs": cutoffs(retention, as_of),
            "settings": retention.model_dump()}
    run_report.write(run_report.run_dir(DAG_ID, run_id), "Pipeline housekeeping", data)
    metrics.housekeeping(removed, action="removed", dry_run=dry_run)
    metrics.housekeeping(kept, action="kept", dry_run=dry_run)
    return data
