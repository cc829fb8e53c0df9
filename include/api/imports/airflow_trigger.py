"""Start ``clinic_patient_import`` for one source through Airflow's REST API (v2, Airflow 3).

Configured by ``GENASCOPE_AIRFLOW_API_URL`` (base URL, e.g. ``http://localhost:8080``) and either
``GENASCOPE_AIRFLOW_API_TOKEN`` (a bearer token) or ``GENASCOPE_AIRFLOW_API_USERNAME`` +
``GENASCOPE_AIRFLOW_API_PASSWORD`` (exchanged for a JWT at ``POST /auth/token``). Credentials are read
from the environment for each trigger and never logged. Without a URL nothing is triggered: the next
scheduled run (02:00 UTC) picks the upload up from the source's ``incoming/``.
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass

import httpx

log = logging.getLogger(__name__)

DAG_ID = "clinic_patient_import"
TIMEOUT_S = 10.0


@dataclass(frozen=True)
class TriggerResult:
    triggered: bool
    dag_run_id: str | None = None
    why_not: str | None = None


def _token(client: httpx.Client, base: str) -> str | None:
    token = os.environ.get("GENASCOPE_AIRFLOW_API_TOKEN", "").strip()
    if token:
        return token
    user = os.environ.get("GENASCOPE_AIRFLOW_API_USERNAME", "").strip()
    password = os.environ.get("GENASCOPE_AIRFLOW_API_PASSWORD", "")
    if not user:
        return None
    resp = client.post(f"{base}/auth/token", json={"username": user, "password": password})
    resp.raise_for_status()
    return resp.json()["access_token"]


def trigger(base_url: str | None, source_id: str, landing_root: str | None, file_id: int) -> TriggerResult:
    if not base_url:
        return TriggerResult(False, why_not="not_configured")
    base = base_url.rstrip("/")
    try:
        with httpx.Client(timeout=TIMEOUT_S) as client:
            token = _token(client, base)
            headers = {"Authorization": f"Bearer {token}"} if token else {}
            resp = client.post(f"{base}/api/v2/dags/{DAG_ID}/dagRuns", headers=headers, json={
                "dag_run_id": f"api_upload__{file_id}", "logical_date": None,
                "conf": {"source_ids": [source_id], "landing_root": landing_root or "", "dry_run": False},
                "note": f"intake API upload, ledger file {file_id}"})
            resp.raise_for_status()
            run_id = resp.json().get("dag_run_id")
    except (httpx.HTTPError, KeyError, ValueError) as exc:
        status = getattr(getattr(exc, "response", None), "status_code", None)
        log.warning("could not trigger %s for file %s: %s %s", DAG_ID, file_id, type(exc).__name__, status or "")
        return TriggerResult(False, why_not=f"trigger_failed ({type(exc).__name__})")
    log.info("triggered %s run %s for file %s of source %s", DAG_ID, run_id, file_id, source_id)
    return TriggerResult(True, dag_run_id=run_id)
