"""Route of the "Patient pipeline" page (navigation): the state of the whole pipeline at a glance.

``GET /pipeline``: the app database's revision and migration runs, the lease holder, the newest runs of
each DAG with their outcome and report status, the import ledger of the last 14 nights per source, open
review items and quarantined rows by reason. Counts and ids only. Read access on every pipeline DAG.
"""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse

from include.core import approvals, settings
from include.ui import pipeline_state
from include.ui.auth import PipelineReader
from include.ui.templating import render, run_page_url

router = APIRouter(tags=["pipeline"])


@router.get("/pipeline", response_class=HTMLResponse, summary="The Patient pipeline page (HTML)")
def pipeline_page(request: Request, user: PipelineReader) -> HTMLResponse:
    app_db = pipeline_state.read_app_db()
    runs = pipeline_state.last_dag_runs()
    return HTMLResponse(render(
        "pipeline.html", app_db=app_db, runs=runs, nights=pipeline_state.LEDGER_NIGHTS,
        head_revision=settings.REV_FINALIZE_INVITES, run_page_url=run_page_url,
        report_tab_url=approvals.report_tab_url))
