"""Routes of a run's report (the "Report" tab of every run of the three pipeline DAGs).

- ``GET /runs/{dag_id}/{run_id}/report``: the run report as HTML, rendered from the ``report.json``
  (migration, rollback) or ``night_summary.json`` + ``imports/file_<id>.json`` (imports) the DAG wrote.
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

from include.core.approvals import report_tab_url
from include.ui import charts, storage
from include.ui.auth import DagEditor, DagReader, is_authorized
from include.ui.templating import render, run_page_url

router = APIRouter(prefix="/runs/{dag_id}/{run_id}", tags=["reports"])

GX_DATA_DOCS = "gx/uncommitted/data_docs/local_site/index.html"
#: Files that hold PHI: never served by the files route (quarantine exports have their own route).
PHI_FILES = (re.compile(r"(^|/)[^/]*quarantine[^/]*\.csv$"), re.compile(r"(^|/)archive_export[^/]*$"))
CONTENT_TYPES = {".html": "text/html; charset=utf-8", ".css": "text/css", ".js": "text/javascript",
                 ".json": "application/json", ".md": "text/plain; charset=utf-8", ".png": "image/png",
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


def migration_view(report: dict[str, Any]) -> dict[str, Any]:
    """The page model of a migration run: counts, durations, gates, quarantine and review sizes."""
    summary = report.get("summary") or {}
    phases = [p for p in report.get("backfill_phases") or [] if isinstance(p, dict)]
    quarantine = {"missing_name": len(report.get("quarantine_invite_ids (missing_name)") or [])}
    return {
        "kind": "migration",
        "dry_run": bool((report.get("params") or {}).get("dry_run", True)),
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
        "restored": report.get("restored_archived_patients") or {},
        "auto_rollback": report.get("auto_rollback") or {},
    }


def rollback_view(report: dict[str, Any]) -> dict[str, Any]:
    return {
        "kind": "rollback",
        "dry_run": bool((report.get("params") or {}).get("dry_run", True)),
        "summary": report.get("summary") or {},
        "approvals": report.get("approvals") or {},
        "would_drop": report.get("would_drop") or {},
        "archive": report.get("archive") or {},
        "downgrade_steps": report.get("downgrade_steps") or [],
        "gates": report.get("gates") or [],
    }


def import_view(dag_id: str, run_id: str, night: dict[str, Any]) -> dict[str, Any]:
    """A night: per source counts and quarantine by reason, per file results and field issues (warnings)."""
    files = []
    for name in storage.list_names(dag_id, run_id, "imports"):
        if re.fullmatch(r"file_\d+\.json", name):
            data = storage.read_json(dag_id, run_id, f"imports/{name}")
            data["has_quarantine_export"] = storage.exists(dag_id, run_id, f"imports/file_{data.get('file_id')}_quarantine.csv")
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
        "unreconciled_files": night.get("unreconciled_files") or [],
        "sources_chart": chart,
    }


def _links(dag_id: str, run_id: str, kind: str) -> list[dict[str, str]]:
    names = ["report.md", "report.json"] if kind != "import" else ["night_summary.md", "night_summary.json"]
    links = [{"label": n, "path": n} for n in names if storage.exists(dag_id, run_id, n)]
    if storage.exists(dag_id, run_id, GX_DATA_DOCS):
        links.append({"label": "Great Expectations Data Docs", "path": GX_DATA_DOCS})
    for name in storage.list_names(dag_id, run_id, "gx"):
        if name.endswith(".md"):
            links.append({"label": f"GX result {name[:-3]}", "path": f"gx/{name}"})
    return links


@router.get("/report", response_class=HTMLResponse, summary="The run's report (HTML)")
def report_page(request: Request, dag_id: str, run_id: str, user: DagReader) -> HTMLResponse:
    try:
        if dag_id == "clinic_patient_import":
            view = import_view(dag_id, run_id, storage.read_json(dag_id, run_id, "night_summary.json"))
        else:
            report = storage.read_json(dag_id, run_id, "report.json")
            view = migration_view(report) if dag_id == "patient_first_migration" else rollback_view(report)
            view["status"] = report.get("status")
            view["generated_at"] = report.get("generated_at")
    except storage.UnsafePath as exc:
        raise _not_found("no such pipeline run") from exc
    except storage.ReportNotFound:
        return HTMLResponse(render("no_report.html", dag_id=dag_id, run_id=run_id,
                                   run_url=run_page_url(dag_id, run_id)), status_code=404)
    base = f"{request.scope.get('root_path', '')}/runs/{quote(dag_id, safe='')}/{quote(run_id, safe='')}"
    return HTMLResponse(render(
        "report.html", dag_id=dag_id, run_id=run_id, view=view, base=base,
        links=_links(dag_id, run_id, view["kind"]), can_export=is_authorized(user, dag_id, "PUT"),
        run_url=run_page_url(dag_id, run_id), tab_url=report_tab_url(dag_id, run_id)))


@router.get("/files/{path:path}", summary="A counts-only file of the run folder (reports, GX Data Docs)")
def run_file(dag_id: str, run_id: str, path: str, user: DagReader) -> Response:
    if any(p.search(path) for p in PHI_FILES):
        raise HTTPException(status.HTTP_403_FORBIDDEN, "this file holds PHI: use the export route (edit access)")
    try:
        data = storage.read_bytes(dag_id, run_id, path)
    except (storage.UnsafePath, storage.ReportNotFound) as exc:
        raise _not_found("no such file in this run") from exc
    suffix = "." + path.rsplit(".", 1)[-1].lower() if "." in path else ""
    headers = {"X-Content-Type-Options": "nosniff", "Cache-Control": "private, no-store"}
    if suffix in (".html", ".svg"):
        # Files written by tools (GX Data Docs) run in an opaque origin: no access to Airflow's session.
        headers["Content-Security-Policy"] = "sandbox allow-scripts allow-popups"
    return Response(data, media_type=CONTENT_TYPES.get(suffix, "application/octet-stream"), headers=headers)


@router.get("/quarantine/{file_id}.csv", summary="An import file's quarantine export (PHI: edit access)")
def quarantine_export(dag_id: str, run_id: str, file_id: int, user: DagEditor) -> Response:
    if dag_id != "clinic_patient_import":
        raise _not_found("only imports have quarantine exports")
    try:
        data = storage.read_bytes(dag_id, run_id, f"imports/file_{file_id}_quarantine.csv")
    except (storage.UnsafePath, storage.ReportNotFound) as exc:
        raise _not_found("no quarantine export for this file in this run") from exc
    return Response(data, media_type="text/csv; charset=utf-8", headers={
        "Content-Disposition": f'attachment; filename="quarantine_file_{file_id}.csv"',
        "X-Content-Type-Options": "nosniff", "Cache-Control": "private, no-store"})
