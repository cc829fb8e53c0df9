"""The words of the approvals (include/core/approvals.py) and the link every message and page gives to a
run's Report tab: Markdown bodies with counts, rule names and revision ids only (never PHI)."""

from __future__ import annotations

from typing import Any

#: The url_route of the plugin's "Report" tab (include/ui/plugin.py registers it).
REPORT_TAB_ROUTE = "genascope-report"


def report_tab_url(dag_id: str, run_id: str, base_url: str = "") -> str:
    """The run's Report tab in the Airflow UI (relative when no ``[api] base_url`` is configured)."""
    from urllib.parse import quote

    return f"{base_url.rstrip('/')}/dags/{quote(dag_id, safe='')}/runs/{quote(run_id, safe='')}/plugin/{REPORT_TAB_ROUTE}"


def configured_base_url() -> str:
    try:
        from airflow.providers.common.compat.sdk import conf

        return conf.get("api", "base_url", fallback="") or ""
    except Exception:  # no Airflow configuration (unit tests of the body builders): a relative link
        return ""


def _table(rows: list[tuple[str, Any]]) -> list[str]:
    out = ["| | |", "|---|---:|"]
    out += [f"| {label} | {value:,} |" if isinstance(value, int) else f"| {label} | {value} |" for label, value in rows]
    return out + [""]


def migration_plan_body(plan: dict[str, Any], gate_rules: dict[str, str], *, dag_id: str, run_id: str,
                        base_url: str | None = None) -> str:
    """Markdown for the plan approval: the dry plan's counts, the gates the run must pass, the report link."""
    url = report_tab_url(dag_id, run_id, configured_base_url() if base_url is None else base_url)
    quarantined = len(plan.get("quarantined_invite_ids") or [])
    lines = ["A **real** migration is about to apply the schema upgrades and the backfill. "
             "The dry plan of this run says:", ""]
    lines += _table([
        ("patients to create", int(plan.get("patients_to_create", 0))),
        ("patients matched (already exist)", int(plan.get("patients_matched", 0))),
        ("invites to link", int(plan.get("invites_to_link", 0))),
        ("users to link", int(plan.get("users_to_link", 0))),
        ("chat sessions to link", int(plan.get("chats_to_link", 0))),
        ("invites quarantined (missing_name)", quarantined),
        ("invites to the review queue", len(plan.get("review_queue_invite_ids") or [])),
        ("invites with an unresolved account", int(plan.get("unresolved_account_invites", 0))),
        ("archived patients to restore (before the backfill)", int(plan.get("archived_patients_to_restore", 0))),
    ])
    restoring = int(plan.get("archived_patients_to_restore", 0))
    if restoring:
        lines += [f"After the schema upgrades, `schema.restore_archived_patients` puts back {restoring:,} "
                  f"archived patient{'s' if restoring != 1 else ''} of an earlier `patient_first_rollback` "
                  "(original ids and links). The counts above are from the database as it is now: invites "
                  "whose patient is restored link to it, so the run creates up to that many fewer patients.", ""]
    lines += ["Gates that must pass before `20250530_finalize_invites` (you are asked again then):", ""]
    lines += [f"- `{rule}`" for rule in gate_rules]
    lines += ["- `legacy_checksums_unchanged`: no legacy column changes",
              f"- `counts_reconcile`: every invite but the {quarantined:,} quarantined is linked",
              "- `gx_migration_suite`: the Great Expectations suite", ""]
    lines += [f"Run report: [Report tab]({url}). **Reject** applies nothing and ends the run."]
    return "\n".join(lines)


def finalize_body(gates: list[dict[str, Any]], plan: dict[str, Any], *, dag_id: str, run_id: str,
                  base_url: str | None = None) -> str:
    """Markdown for the finalize approval: every gate's result with its row count, the report link."""
    url = report_tab_url(dag_id, run_id, configured_base_url() if base_url is None else base_url)
    lines = ["The backfill is done and the gates ran. Next: `20250530_finalize_invites` "
             "(`invites.patient_id` NOT NULL; the application can then no longer write an invite "
             "without a patient).", "", "| gate | result | rows |", "|---|---|---:|"]
    for g in gates:
        lines.append(f"| `{g.get('rule')}` | {'passed' if g.get('passed') else 'FAILED'} | {int(g.get('violations') or 0):,} |")
    restored = int(plan.get("archived_patients_restored", 0))
    lines += ["", f"Patients created by this run's plan: {int(plan.get('patients_to_create', 0)):,}; "
              f"invites linked: {int(plan.get('invites_to_link', 0)):,}"
              + (f"; archived patients restored: {restored:,}." if restored else "."), "",
              f"Run report: [Report tab]({url}). **Reject** keeps the backfill (reversible with "
              "`patient_first_rollback`) and does not apply `20250530_finalize_invites`."]
    return "\n".join(lines)


def rollback_body(preflight: dict[str, Any], *, dag_id: str, run_id: str, base_url: str | None = None) -> str:
    """Markdown for the rollback approval: revisions to remove, rows to archive per table, the report link."""
    url = report_tab_url(dag_id, run_id, configured_base_url() if base_url is None else base_url)
    revisions = preflight.get("revisions_to_downgrade") or []
    lines = [f"A **real** rollback from `{preflight.get('current_revision')}` is about to archive every patient "
             "and link, then remove these revisions (newest first):", ""]
    lines += [f"- `{r}`" for r in revisions] or ["- (none)"]
    lines += ["", "Rows to archive before anything is dropped:", ""]
    lines += _table([(table, int(n)) for table, n in sorted((preflight.get("would_archive") or {}).items())])
    lines += [f"Run report: [Report tab]({url}). **Reject** archives and drops nothing and ends the run."]
    return "\n".join(lines)
