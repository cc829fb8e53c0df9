"""``/api/patients``: create (one, bulk), list, read. Every route declares ``Depends(caller_scope)``."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Annotated, Any

from fastapi import APIRouter, Header, Path, Query, Request, Response
from fastapi.concurrency import run_in_threadpool
from pydantic import TypeAdapter, ValidationError

from include.api.audit import call_audit
from include.api.auth import Scoped
from include.api.errors import PROBLEM_JSON, Problem
from include.api.patients import service
from include.api.patients.models import BulkResult, CreatedPatient, Patient, PatientIn, PatientPage, PatientStatus
from include.api.settings import DEFAULT_PAGE_SIZE, MAX_PAGE_SIZE

router = APIRouter(prefix="/api/patients", tags=["patients"])

PROBLEM = {"content": {PROBLEM_JSON: {}}, "description": "application/problem+json with a stable `code`"}
ERRORS = {401: PROBLEM, 403: PROBLEM, 413: PROBLEM, 422: PROBLEM, 429: PROBLEM, 503: PROBLEM}
NDJSON_TYPES = ("application/x-ndjson", "application/ndjson", "application/jsonl")
ROWS_ADAPTER = TypeAdapter(list[PatientIn])
BULK_BODY = {
    "requestBody": {"required": True, "content": {
        "application/json": {"schema": {"type": "array", "items": {"$ref": "#/components/schemas/PatientIn"}}},
        "application/x-ndjson": {"schema": {"type": "string",
                                            "description": "one PatientIn JSON object per line"}}}}}


def _state(request: Request) -> Any:
    return request.app.state.intake


@router.post("", status_code=201, response_model=CreatedPatient, summary="Create one patient",
             responses={200: {"model": CreatedPatient, "description": "An existing patient matched (updated or unchanged)"},
                        409: PROBLEM, **ERRORS})
async def create_patient(body: PatientIn, request: Request, caller: Scoped) -> Response:
    """One patient through the import's rules: 201 new, 200 `matched: true` when the same external id, or the
    same e-mail key + first name, is already a patient of the account (updates never blank a value; the change
    is logged), 409 `identity_conflict` naming the patient ids, 422 with the import's reason code."""
    state = _state(request)
    account = caller.account_for(body.account_id)
    if account != caller.account_id:
        await run_in_threadpool(service.intake.ensure_account, state.engine, account)
    size = int(request.headers.get("content-length") or 0)
    audit = call_audit(request.scope)
    # one round trip on the event loop's own sessions (include.api.async_sessions): no thread hop
    result = await service.intake.create_single(state.sessions, state.settings, account, body.record(),
                                                size_bytes=size, namespace=body.identifier_namespace,
                                                audit_key=audit.key_id, started=audit.started)
    audit.written = audit.key_id is not None  # the audit row was committed with the create
    audit.account_id, audit.file_id = account, result.file_id
    outcome = result.outcome
    audit.counts = {"rows": 1, outcome.outcome: 1}
    audit.patient_ids = sorted({*([outcome.patient_id] if outcome.patient_id else []),
                                *outcome.conflicting_patient_ids})
    if result.patient is None:
        raise service.quarantine_problem(outcome)
    matched = outcome.outcome != "inserted"
    # validated once against the response model and serialized by it (what FastAPI would do, without
    # validating the same answer twice)
    created = CreatedPatient.model_validate({**result.patient, "matched": matched, "outcome": outcome.outcome,
                                             "file_id": result.file_id})
    return Response(created.model_dump_json(), status_code=200 if matched else 201, media_type="application/json")


def _parse_bulk(raw: bytes, content_type: str) -> list[PatientIn]:
    try:
        if content_type in NDJSON_TYPES:
            items = [json.loads(line) for line in raw.splitlines() if line.strip()]
        else:
            items = json.loads(raw)
    except (ValueError, UnicodeDecodeError):
        raise Problem(422, "invalid_json", "the body is not a JSON array (or NDJSON: one object per line)") from None
    if not isinstance(items, list):
        raise Problem(422, "invalid_json", "the body must be a JSON array of patients (or NDJSON)")
    try:
        return ROWS_ADAPTER.validate_python(items)
    except ValidationError as exc:
        errors = [{"field": ".".join(str(p) for p in e["loc"]), "code": e["type"]} for e in exc.errors()[:100]]
        raise Problem(422, "invalid_request", "rows do not match the PatientIn schema (see errors: index.field)",
                      errors=errors) from None


@router.post("/bulk", response_model=BulkResult, summary="Create patients in bulk", openapi_extra=BULK_BODY,
             responses={**ERRORS})
async def create_bulk(request: Request, response: Response, caller: Scoped,
                      idempotency_key: Annotated[str | None, Header(max_length=255, pattern=r"^[\x21-\x7e]+$")] = None,
                      ) -> BulkResult:
    """A JSON array (or NDJSON) of up to the row limit, set-based as one ledger entry (source kind `api`):
    COPY staging -> decisions -> merge, atomic. Every row's outcome and the reconciled counts. With
    `Idempotency-Key`, the same key and body return the first response and write nothing again."""
    state = _state(request)
    raw = await request.body()
    content_type = (request.headers.get("content-type") or "application/json").split(";")[0].strip().lower()
    rows = _parse_bulk(raw, content_type)
    if len(rows) > state.settings.max_bulk_rows:
        raise Problem(413, "too_many_rows", f"at most {state.settings.max_bulk_rows} rows per call; split the rows",
                      limit_rows=state.settings.max_bulk_rows)
    if not rows:
        raise Problem(422, "empty_body", "send at least one patient")
    requested = {r.account_id for r in rows if r.account_id is not None}
    if len(requested) > 1:
        raise Problem(422, "mixed_accounts", "all rows of one call must name the same account_id (or none)")
    namespaces = {r.identifier_namespace for r in rows}
    if len(namespaces) > 1:
        raise Problem(422, "mixed_namespaces", "all rows of one call must name the same identifier_namespace (or "
                      "none): send one call per system that issued the identifiers")
    account = caller.account_for(next(iter(requested), None))
    if account != caller.account_id:
        await run_in_threadpool(service.intake.ensure_account, state.engine, account)
    answer = await run_in_threadpool(service.create_bulk, state.engine, state.settings, account,
                                     [r.record() for r in rows], raw, idempotency_key, next(iter(namespaces)))
    audit = call_audit(request.scope)
    audit.account_id, audit.file_id = account, answer.result.file_id
    audit.counts = {**answer.result.counts.model_dump(), "replayed": int(answer.replayed)}
    audit.patient_ids = [r.patient_id for r in answer.result.rows if r.patient_id]
    if answer.replayed:
        response.headers["Idempotent-Replayed"] = "true"
    return answer.result


def _utc_naive(value: datetime | None) -> datetime | None:
    if value is None or value.tzinfo is None:
        return value
    return value.astimezone(UTC).replace(tzinfo=None)


@router.get("", response_model=PatientPage, summary="List patients", responses={**ERRORS})
def list_patients(request: Request, caller: Scoped,
                  status: PatientStatus | None = None,
                  external_id: Annotated[str | None, Query(max_length=255)] = None,
                  email: Annotated[str | None, Query(max_length=255, description="matched on its key form")] = None,
                  last_name: Annotated[str | None, Query(max_length=100, description="case-insensitive prefix")] = None,
                  clinician_id: Annotated[str | None, Query(max_length=36)] = None,
                  created_since: datetime | None = None, updated_since: datetime | None = None,
                  account_id: Annotated[str | None, Query(max_length=36, description="admin keys only")] = None,
                  limit: Annotated[int, Query(ge=1, le=MAX_PAGE_SIZE)] = DEFAULT_PAGE_SIZE,
                  cursor: Annotated[str | None, Query(max_length=400, description="`next` of the previous page")] = None,
                  ) -> PatientPage:
    """The key's account's patients in the stable order (created_at, id), keyset-paginated."""
    account = caller.account_for(account_id)
    all_accounts = caller.is_admin and account_id is None
    items, nxt = service.list_patients(
        _state(request).engine, account_id=account, all_accounts=all_accounts, limit=limit, cursor=cursor,
        filters={"status": status, "external_id": external_id, "email": email, "last_name": last_name,
                 "clinician_id": clinician_id, "created_since": _utc_naive(created_since),
                 "updated_since": _utc_naive(updated_since)})
    audit = call_audit(request.scope)
    audit.account_id = None if all_accounts else account
    audit.counts = {"returned": len(items)}
    audit.patient_ids = [p.id for p in items]
    return PatientPage(items=items, next=nxt)


@router.get("/{patient_id}", response_model=Patient, summary="Read one patient", responses={404: PROBLEM, **ERRORS})
def get_patient(request: Request, patient_id: Annotated[str, Path(max_length=36)],
                caller: Scoped) -> Patient:
    """One patient of the key's account (another account's id answers 404, as an unknown id does)."""
    patient = service.get_patient(_state(request).engine, patient_id, caller.account_id, caller.is_admin)
    audit = call_audit(request.scope)
    audit.patient_ids, audit.counts = [patient.id], {"returned": 1}
    return patient
