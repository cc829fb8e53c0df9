"""``/api/patients/import-csv`` and ``/api/patients/imports/{file_id}``. Every route declares ``Depends(caller_scope)``."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, File, Form, Path, Request, Response, UploadFile
from fastapi.concurrency import run_in_threadpool

from include.api.audit import call_audit
from include.api.auth import Scoped
from include.api.imports import service
from include.api.imports.models import ImportStatus, UploadAccepted
from include.api.patients.router import ERRORS, PROBLEM

router = APIRouter(prefix="/api/patients", tags=["imports"])


@router.post("/import-csv", status_code=202, response_model=UploadAccepted, summary="Upload a CSV of patients",
             responses={200: {"model": UploadAccepted, "description": "The same bytes were uploaded before"},
                        409: PROBLEM, **ERRORS})
async def import_csv(request: Request, response: Response, caller: Scoped,
                     file: Annotated[UploadFile, File()],
                     account_id: Annotated[str | None, Form(max_length=36)] = None) -> UploadAccepted:
    """A CSV in the platform header or the column mapping of the account's upload source, landed with its SHA-256,
    registered in the import ledger and imported by `clinic_patient_import` (triggered through Airflow's REST
    API when configured, else by the next run): 202 with the ledger file id and a status URL."""
    state = request.app.state.intake
    account = caller.account_for(account_id)
    status_url = str(request.url_for("import_status", file_id="0")).rsplit("/", 1)[0] + "/{file_id}"
    status, answer = await run_in_threadpool(service.upload_csv, state.engine, state.settings, account, file.file,
                                             status_url)
    audit = call_audit(request.scope)
    audit.account_id, audit.file_id = account, answer.file_id
    audit.counts = {"bytes": answer.size_bytes, "duplicate": int(answer.duplicate)}
    response.status_code = status
    return answer


@router.get("/imports/{file_id}", response_model=ImportStatus, summary="Status of an import",
            name="import_status", responses={404: PROBLEM, **ERRORS})
def import_status(request: Request, file_id: Annotated[int, Path(ge=1, le=2**63 - 1)],
                  caller: Scoped) -> ImportStatus:
    """The ledger status and counts of an upload (or any import of the key's account)."""
    status = service.import_status(request.app.state.intake.engine, file_id, caller.account_id, caller.is_admin)
    audit = call_audit(request.scope)
    audit.file_id, audit.counts = status.file_id, {"rows_read": status.rows_read or 0}
    return status
