"""Routes of a run's report (the "Report" tab of every run of the pipeline DAGs).

- ``GET /runs/{dag_id}/{run_id}/report``: the run report as HTML, rendered from the report the DAG wrote
  (its file and model: ``include/core/pipeline_dags.py``, ``include/core/report_models.py``; ``report.json``
  of migration, rollback, stewardship and housekeeping runs, ``night_summary.json`` +
  ``imports/file_<id>.json`` of import nights), with why the run failed or was refused (the reason code and message each failed task recorded,
  ``include/core/failures.py``). Before the report exists (a run in progress, an approval waiting, a run
  that failed before its report task): the run's state, the approvals waiting, and the failure reasons.
- ``GET /runs/{dag_id}/{run_id}/files/{path}``: a counts-only file of the run folder (``report.md``,
  GX Data Docs and results, per-file reports). Read access on the DAG.
- ``GET /runs/{dag_id}/{run_id}/quarantine/{file_id}.csv``: an import file's quarantine export. It
  holds PHI: edit access on the DAG. PHI-bearing files are never served by the files route.
"""

from __future__ import annotations

import re
from typing import Any
from urllib.parse import quote

from fastapi import APIRouter, HTTPException, Request, status
from fastapi.responses import HTMLResponse, Response

from include.core import pipeline_dags
from include.core.approval_texts import report_tab_url
from include.core.errors import UnsafePath
from include.core.report_models import (
    QUARANTINE_MISSING_NAME,
    HousekeepingReport,
    MigrationReport,
    RollbackReport,
    StewardshipReport,
)
from include.ui import charts, run_files
from include.ui.auth import DagEditor, DagReader, is_authorized
from include.ui.templating import render, run_page_url

router = APIRouter(prefix="/runs/{dag_id}/{run_id}", tags=["reports"])

#: Where the runs write GX Data Docs (include/gates/gx_gates.py ``data_docs_index``: ``<run>/gx/data_docs``).
GX_DATA_DOCS = "gx/data_docs/index.html"
#: Files that hold PHI: never served by the files route (quarantine exports have their own route).
PHI_FILES = (re.compile(r"(^|/)[^/]*quarantine[^/]*\.csv$"), re.compile(r"(^|/)archive_export[^/]*$"))
CONTENT_TYPES = {".html": "text/html; charset=utf-8", ".css": "text/css", ".js": "text/javascript",
                 ".json": "application/json", ".md": "text/markdown; charset=utf-8", ".png": "image/png",
                 ".svg": "image/svg+xml", ".txt": "text/plain; charset=utf-8"}


def _not_found(what: str) -> HTTPException:
    return HTTPException(status.HTTP_404_NOT_FOUND, what)


def _n(value: Any) -> int:
    try:
        return int(value or 0)
    except (TypeError, ValueError):
        return 0


def _phases_chart(phases: list[dict[str, Any]]) -> Any:
    done = [p for p in phases if "seconds" in p]
    return charts.bar_chart("Backfill phases: duration and throughput", [p["phase"] for p in done],
                            [charts.Series("seconds", [float(p.get("seconds") or 0) for p in done], "s"),
                             charts.Series("rows/s", [float(p.get("rows_per_s") or 0) for p in done], "rows/s")])


def migration_view(report: MigrationReport) -> dict[str, Any]:
    """The page model of a migration run: counts, durations, gates, quarantine and review sizes."""
    summary = report.get("summary") or {}
    phases = [p for p in report.get("backfill_phases") or [] if isinstance(p, dict)]
    quarantine = {"missing_name": len(report.get(QUARANTINE_MISSING_NAME) or [])}
    dry = bool((report.get("params") or {}).get("dry_run", True))
    return {
        "kind": "migration",
        "dry_run": dry,
        # the numbers are a plan: a dry run, or a real run whose approval still waits
        "planned": dry or str(report.get("status") or "").startswith("waiting"),
        "patients": _n(summary.get("patients_created", summary.get("patients_to_create"))),
        "summary": summary,
        "approvals": report.get("approvals") or {},
        "schema_steps": report.get("schema_steps") or [],
        "phases": phases,
        "phases_chart": _phases_chart(phases),
        "gates": report.get("gates") or [],
        "quarantine": quarantine,
        "review_queue": len(report.get("review_queue_invite_ids") or []),
        "finalize": report.get("finalize") or {},
        "restored": {k: v for k, v in (report.get("restored_archived_patients") or {}).items() if k != "state"},
        "restored_count": _n(summary.get("archived_patients_restored", summary.get("archived_patients_to_restore"))),
        "auto_rollback": report.get("auto_rollback") or {},
    }


def rollback_view(report: RollbackReport) -> dict[str, Any]:
    summary = report.get("summary") or {}
    preflight = report.get("preflight") or {}
    revisions = summary.get("revisions_to_downgrade", summary.get("revisions_downgraded")) or []
    archive = preflight.get("would_archive") or {}
    return {
        "revisions": revisions if isinstance(revisions, list) else [],
        "patients_archived": _n(archive.get("patients") if isinstance(archive, dict) else 0),
        "kind": "rollback",
        "dry_run": bool((report.get("params") or {}).get("dry_run", True)),
        "summary": report.get("summary") or {},
        "approvals": report.get("approvals") or {},
        "would_drop": report.get("would_drop") or {},
        "archive": report.get("archive") or {},
        "downgrade_steps": report.get("downgrade_steps") or [],
        "gates": report.get("gates") or [],
    }


def identity_view(dag_id: str, run_id: str) -> dict[str, Any] | None:
    """The matcher's pass of a run (``identity.json``, written by include/identity/steps.py): accounts, pairs
    per blocking rule, threshold, model, queue size by kind and status. None when the run has no pass."""
    if not run_files.exists(dag_id, run_id, "identity.json"):
        return None
    data = run_files.read_json(dag_id, run_id, "identity.json")
    runs = [r for r in data.get("runs") or [] if isinstance(r, dict)]
    by_rule: dict[str, int] = {}
    for r in runs:
        for rule, n in (r.get("pairs_by_rule") or {}).items():
            by_rule[rule] = by_rule.get(rule, 0) + _n(n)
    queue = {k: v for k, v in (data.get("queue_by_kind") or {}).items() if isinstance(v, dict)}
    statuses = [s for s in ("open", "merged", "kept_separate", "dismissed")
                if any(s in v for v in queue.values())] or ["open"]
    return {
        "state": data.get("state") or "done", "error": data.get("error") or "",
        "accounts": _n(data.get("accounts")), "queued": _n(data.get("queued")), "runs": runs,
        "model": runs[-1].get("model_name") if runs else "", "threshold": runs[-1].get("threshold") if runs else None,
        "pairs_by_rule": by_rule, "queue_by_kind": queue, "statuses": statuses,
    }


def import_view(dag_id: str, run_id: str, night: dict[str, Any]) -> dict[str, Any]:
    """A night: per source counts and quarantine by reason, per file results and field issues (warnings)."""
    files = []
    for name in run_files.list_names(dag_id, run_id, "imports"):
        if re.fullmatch(r"file_\d+\.json", name):
            data = run_files.read_json(dag_id, run_id, f"imports/{name}")
            data["has_quarantine_export"] = run_files.exists(dag_id, run_id, f"imports/file_{data.get('file_id')}_quarantine.csv")
            files.append(data)
    files.sort(key=lambda f: _n(f.get("file_id")))
    sources = night.get("sources") or {}
    field_issues: dict[str, int] = {}
    for f in files:
        for code, n in (f.get("notes_by_code") or {}).items():
            field_issues[code] = field_issues.get(code, 0) + _n(n)
    chart = charts.bar_chart("Per source: inserted, updated, quarantined", sorted(sources), [
        charts.Series(k, [float(_n(sources[s].get(k))) for s in sorted(sources)]) for k in ("inserted", "updated",
                                                                                             "quarantined")])
    return {
        "kind": "import",
        "dry_run": any(f.get("dry_run") for f in files),
        "patients": sum(_n(s.get("inserted")) for s in sources.values()),
        "sources": sources,
        "files": files,
        "field_issues": field_issues,
        "review_queue": sum(_n(s.get("review_items")) for s in sources.values()),
        "gx_success": night.get("gx_success"),
        "held_files": night.get("held_files") or [],
        "held": [f for f in files if f.get("status") == "held"],
        "unreconciled_files": night.get("unreconciled_files") or [],
        "file_names": night.get("file_names") or {},
        "nothing_imported": night.get("nothing_imported") or "",
        "sources_chart": chart,
    }


def stewardship_view(report: StewardshipReport) -> dict[str, Any]:
    """A stewardship run: the request (ids), each action's result (status, reason code, counts, ids) and
    what is still open. The report's own status says dry run / done / refused / failed."""
    results = [r for r in report.get("results") or [] if isinstance(r, dict)]
    request = {k: v for k, v in (report.get("request") or {}).items() if v not in (None, "", [], 0, False)
               or k == "dry_run"}
    open_review = report.get("open_review_items") or {}
    return {
        "kind": "stewardship",
        "dry_run": bool(report.get("dry_run", True)),
        "actor": report.get("actor") or "",
        "action": (report.get("request") or {}).get("action") or "",
        "request": request,
        "results": results,
        "refused": sum(1 for r in results if r.get("status") == "refused"),
        "error": report.get("error") or "",
        "open_review": open_review if isinstance(open_review, dict) else {},
        "open_review_total": sum(_n(v) for v in open_review.values()) if isinstance(open_review, dict) else 0,
        "open_quarantine_rows": _n(report.get("open_quarantine_rows")),
    }


def housekeeping_view(report: HousekeepingReport) -> dict[str, Any]:
    """A housekeeping run: what it removed (or, dry, would remove) and what it kept, per kind (counts only)."""
    dry = bool(report.get("dry_run", True))
    removed = report.get("would_remove" if dry else "removed") or {}
    kept = report.get("kept_because_needed") or {}
    return {
        "kind": "housekeeping",
        "dry_run": dry,
        "as_of": report.get("as_of") or "",
        "removed": removed,
        "removed_total": sum(_n(v) for v in removed.values()),
        "kept_because_needed": kept,
        "kept_total": sum(_n(v) for v in kept.values()),
        "kept_younger_than_age": report.get("kept_younger_than_age") or {},
        "cutoffs": report.get("cutoffs") or {},
    }


VIEWS = {"migration": migration_view, "rollback": rollback_view, "stewardship": stewardship_view,
         "housekeeping": housekeeping_view}


def _links(dag_id: str, run_id: str, kind: str) -> list[dict[str, str]]:
    main = pipeline_dags.BY_ID[dag_id].report_file
    names = [main.replace(".json", ".md"), main]
    links = [{"label": n, "path": n} for n in names if run_files.exists(dag_id, run_id, n)]
    if run_files.exists(dag_id, run_id, GX_DATA_DOCS):
        links.append({"label": "Great Expectations Data Docs", "path": GX_DATA_DOCS})
    for name in run_files.list_names(dag_id, run_id, "gx"):
        if name.endswith(".md"):
            links.append({"label": f"GX result {name[:-3]}", "path": f"gx/{name}"})
    return links


def _outcome(dag_id: str, run_id: str) -> Any:
    """The run as Airflow knows it (state, approvals waiting, failure reasons); None if unreadable."""
    from include.ui import pipeline_state

    try:
        return pipeline_state.run_outcome(dag_id, run_id)
    except Exception as exc:  # the report still renders from its files; the page says nothing about the run
        import logging

        logging.getLogger(__name__).warning("run state of %s not readable: %s", dag_id, type(exc).__name__)
        return None


def read_view(dag_id: str, run_id: str) -> dict[str, Any]:
    """The page model of a run's report (ReportNotFound while the run has not written one)."""
    dag = pipeline_dags.get(dag_id)
    if dag is None:
        raise UnsafePath(f"not a pipeline DAG: {dag_id[:64]!r}")
    report = run_files.read_json(dag_id, run_id, dag.report_file)
    if dag.kind == "import":
        view = import_view(dag_id, run_id, report)
        view["identity"] = identity_view(dag_id, run_id)
        return view
    view = VIEWS[dag.kind](report)
    if dag.kind == "migration":
        view["identity"] = identity_view(dag_id, run_id)
    view["status"] = report.get("status") or ""
    view["generated_at"] = report.get("generated_at")
    view["failures"] = [f for f in report.get("failures") or [] if isinstance(f, dict)]
    view["notes"] = [str(n) for n in report.get("notes") or []]
    return view


@router.get("/report", response_class=HTMLResponse, summary="The run's report (HTML)")
def report_page(request: Request, dag_id: str, run_id: str, user: DagReader) -> HTMLResponse:
    try:
        run_files.run_path(dag_id, run_id)
    except UnsafePath as exc:
        raise _not_found("no such pipeline run") from exc
    outcome = _outcome(dag_id, run_id)
    try:
        view = read_view(dag_id, run_id)
    except UnsafePath as exc:
        raise _not_found("no such pipeline run") from exc
    except run_files.ReportNotFound:
        known = outcome is not None and outcome.exists
        return HTMLResponse(render("no_report.html", dag_id=dag_id, run_id=run_id, outcome=outcome,
                                   run_url=run_page_url(dag_id, run_id)), status_code=200 if known else 404)
    view.setdefault("failures", [])
    view.setdefault("notes", [])
    if outcome is not None and outcome.exists:
        # the run's own record first; the report may be older than a failure (e.g. the report task itself)
        seen = {(f.get("task_id"), f.get("reason_code")) for f in view["failures"]}
        view["failures"] += [f for f in outcome.failures if (f["task_id"], f["reason_code"]) not in seen]
    from include.ui.app import review_url

    base = f"{request.scope.get('root_path', '')}/runs/{quote(dag_id, safe='')}/{quote(run_id, safe='')}"
    return HTMLResponse(render(
        "report.html", dag_id=dag_id, run_id=run_id, view=view, base=base, outcome=outcome, review_href=review_url(),
        links=_links(dag_id, run_id, view["kind"]), can_export=is_authorized(user, dag_id, "PUT"),
        run_url=run_page_url(dag_id, run_id), tab_url=report_tab_url(dag_id, run_id)))


def render_markdown(text: str) -> str:
    """A counts-only markdown report as a page: the text is escaped first (no HTML of its own gets through)."""
    import html

    import markdown
    from markupsafe import Markup

    body = markdown.markdown(html.escape(text, quote=False), extensions=["tables"], output_format="html")
    return render("markdown.html", body=Markup(body))


@router.get("/files/{path:path}", summary="A counts-only file of the run folder (reports, GX Data Docs)")
def run_file(dag_id: str, run_id: str, path: str, user: DagReader, raw: bool = False) -> Response:
    """Markdown reports are served as pages (``?raw=1``: the markdown itself)."""
    if any(p.search(path) for p in PHI_FILES):
        raise HTTPException(status.HTTP_403_FORBIDDEN, "this file holds PHI: use the export route (edit access)")
    try:
        data = run_files.read_bytes(dag_id, run_id, path)
    except (UnsafePath, run_files.ReportNotFound) as exc:
        raise _not_found("no such file in this run") from exc
    suffix = "." + path.rsplit(".", 1)[-1].lower() if "." in path else ""
    headers = {"X-Content-Type-Options": "nosniff", "Cache-Control": "private, no-store"}
    if suffix == ".md" and not raw:
        return HTMLResponse(render_markdown(data.decode("utf-8", errors="replace")), headers=headers)
    if suffix in (".html", ".svg"):
        # Files written by tools (GX Data Docs) run in an opaque origin: no access to Airflow's session.
        headers["Content-Security-Policy"] = "sandbox allow-scripts allow-popups"
    return Response(data, media_type=CONTENT_TYPES.get(suffix, "application/octet-stream"), headers=headers)


@router.get("/quarantine/{file_id}.csv", summary="An import file's quarantine export (PHI: edit access)")
def quarantine_export(dag_id: str, run_id: str, file_id: int, user: DagEditor) -> Response:
    if dag_id != pipeline_dags.IMPORT.dag_id:
        raise _not_found("only imports have quarantine exports")
    try:
        data = run_files.read_bytes(dag_id, run_id, f"imports/file_{file_id}_quarantine.csv")
    except (UnsafePath, run_files.ReportNotFound) as exc:
        raise _not_found("no quarantine export for this file in this run") from exc
    return Response(data, media_type="text/csv; charset=utf-8", headers={
        "Content-Disposition": f'attachment; filename="quarantine_file_{file_id}.csv"',
        "X-Content-Type-Options": "nosniff", "Cache-Control": "private, no-store"})
