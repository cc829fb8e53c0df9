"""The night's counts on the import's asset event, so a downstream DAG scheduled on the asset
(``schedule=[Asset("genascope_patients_clinic_import")]``) reads them from ``triggering_asset_events``
without opening a report. Counts and ids only (docs/operating-alerts.md shows a consumer)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

#: Bumped when the extra's shape changes (consumers check it).
EXTRA_VERSION = 1
COUNTS = ("files", "rows_read", "inserted", "updated", "unchanged", "duplicates", "quarantined",
          "review_items", "field_issue_rows")


def night_extra(summary: Mapping[str, Any]) -> dict[str, Any]:
    """The extra of the night's asset event from the night summary's XCom."""
    per_source = {}
    for sid, agg in (summary.get("sources") or {}).items():
        per_source[sid] = {k: int(agg.get(k) or 0) for k in COUNTS}
        per_source[sid]["files_by_status"] = {str(k): int(v) for k, v in (agg.get("files_by_status") or {}).items()}
    totals = {k: sum(s[k] for s in per_source.values()) for k in COUNTS}
    return {"version": EXTRA_VERSION, "run_id": summary.get("run_id"), "totals": totals, "sources": per_source,
            "held_files": [int(f) for f in summary.get("held_files") or []],
            "patients_gate_passed": summary.get("gx_success")}


def attach_night_counts(summary: Mapping[str, Any]) -> dict[str, Any]:
    """Put :func:`night_extra` on every outlet of the running task (the night summary's asset)."""
    from airflow.sdk import get_current_context

    ctx = get_current_context()
    extra = night_extra(summary)
    for outlet in ctx["task"].outlets or []:
        ctx["outlet_events"][outlet].extra.update(extra)
    return extra
