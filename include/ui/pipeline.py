"""Route of the "Patient pipeline" page (navigation): the state of the whole pipeline at a glance.

``GET /pipeline``: the app database's revision and migration runs, the lease holder, the newest runs of
each DAG with their outcome and report status (stewardship runs too), the import ledger of the last 14 nights
per source (runs linked only when Airflow knows them: intake API and CLI entries are labelled), open review
items by reason with links to the Review page, quarantined rows by reason, and a notice while the nightly
import is paused. Counts and ids only. Read access on every pipeline DAG.
"""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse

from include.core import approval_texts, pipeline_dags, settings
from include.ui import pipeline_state
from include.ui.app import review_url
from include.ui.auth import PipelineReader
from include.ui.templating import render, run_page_url

router = APIRouter(tags=["pipeline"])


IMPORT_DAG = pipeline_dags.IMPORT.dag_id


def ledger_origin(run_id: str) -> str:
    """Who registered a ledger row whose run id is no Airflow run of the import (no link then)."""
    if run_id.startswith("api:"):
        return "intake API"
    if run_id.startswith("cli"):
        return "CLI"
    return "not an Airflow run"


@router.get("/pipeline", response_class=HTMLResponse, summary="The Patient pipeline page (HTML)")
def pipeline_page(request: Request, user: PipelineReader) -> HTMLResponse:
    app_db = pipeline_state.read_app_db()
    runs = pipeline_state.last_dag_runs()
    ledger_ids = sorted({rid for n in app_db.ledger for rid in (n.get("dag_run_ids") or [])})
    return HTMLResponse(render(
        "pipeline.html", app_db=app_db, runs=runs, nights=pipeline_state.LEDGER_NIGHTS,
        head_revision=settings.REV_FINALIZE_INVITES, run_page_url=run_page_url,
        report_tab_url=approval_texts.report_tab_url, paused=pipeline_state.paused_dags(), import_dag=IMPORT_DAG,
        airflow_runs=pipeline_state.existing_runs(IMPORT_DAG, ledger_ids), ledger_origin=ledger_origin,
        review_url=review_url))
