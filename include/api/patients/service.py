"""What the patients routes do, as plain functions on an engine (no FastAPI here; the bench calls them too)."""

from __future__ import annotations

import base64
import hashlib
import json
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import sqlalchemy as sa

from include.api import intake, sql
from include.api.errors import REASON_HELP, Problem, not_found
from include.api.patients.models import BulkCounts, BulkResult, Patient, RowResult
from include.api.settings import ApiSettings
from include.imports import direct
from include.normalize.emails import email_key

#: Namespace of the advisory lock that serializes calls with one Idempotency-Key ("IDEM").
IDEMPOTENCY_LOCK_NS = 0x4944454D


def get_patient(engine: sa.Engine, patient_id: str, account_id: str, all_accounts: bool) -> Patient:
    with engine.connect() as conn:
        row = sql.run(conn, "patient_by_id", patient_id=patient_id, account_id=account_id,
                      all_accounts=all_accounts).mappings().first()
        conn.commit()
    if row is None:
        raise not_found()
    return Patient(**row)


def row_result(o: direct.RecordOutcome) -> RowResult:
    return RowResult(index=o.record_no - 1, outcome=o.outcome, patient_id=o.patient_id,
                     reason_codes=[o.reason_code] if o.reason_code else [], field=o.reason_field,
                     conflicting_patient_ids=list(o.conflicting_patient_ids))


def bulk_result(result: direct.DeliveryResult) -> BulkResult:
    c = result.counts
    return BulkResult(
        file_id=result.file_id, reconciled=c.balanced,
        counts=BulkCounts(rows=c.rows_read, inserted=c.inserted, updated=c.updated, unchanged=c.unchanged,
                          duplicates=c.duplicates, quarantined=c.quarantined, review_items=c.review_items),
        rows=[row_result(o) for o in result.outcomes])


def quarantine_problem(o: direct.RecordOutcome) -> Problem:
    """The 409/422 of a single create the import refused (reason code and field; never the value)."""
    code = o.reason_code or "invalid_record"
    if code == "identity_conflict":
        ids = list(o.conflicting_patient_ids)
        return Problem(409, code, REASON_HELP[code] + f"; conflicting patient ids: {', '.join(ids) or 'unknown'}",
                       field=o.reason_field, conflicting_patient_ids=ids)
    detail = REASON_HELP.get(code, "the import refused this record")
    return Problem(422, code, detail, field=o.reason_field, errors=[{"field": o.reason_field, "code": code}])


def body_sha256(raw: bytes) -> str:
    return hashlib.sha256(raw).hexdigest()


@dataclass(frozen=True)
class BulkAnswer:
    result: BulkResult
    replayed: bool


def create_bulk(engine: sa.Engine, settings: ApiSettings, account_id: str, rows: list[dict[str, str | None]],
                raw: bytes, idempotency_key: str | None, namespace: str | None = None) -> BulkAnswer:
    if idempotency_key is None:
        return BulkAnswer(_deliver_bulk(engine, settings, account_id, rows, len(raw), namespace), False)
    sha = body_sha256(raw)
    with engine.connect() as conn:  # this session holds the key's lock while the delivery runs on another
        conn.execute(sa.text("SELECT pg_advisory_lock(:ns, hashtext(:a || '/' || :k))"),
                     {"ns": IDEMPOTENCY_LOCK_NS, "a": account_id, "k": idempotency_key})
        conn.commit()
        try:
            stored = sql.run(conn, "idempotency_lookup", account_id=account_id,
                             idempotency_key=idempotency_key).mappings().first()
            conn.commit()
            if stored is not None:
                if stored["body_sha256"] != sha:
                    raise Problem(422, "idempotency_key_reused",
                                  "this Idempotency-Key was used with a different body; use a new key for new rows")
                replay = BulkResult(**stored["response"])
                replay.idempotent_replay = True
                return BulkAnswer(replay, True)
            result = _deliver_bulk(engine, settings, account_id, rows, len(raw), namespace)
            sql.run(conn, "idempotency_store", account_id=account_id, idempotency_key=idempotency_key,
                    body_sha256=sha, status=200, response=result.model_dump_json(), file_id=result.file_id)
            conn.commit()
            return BulkAnswer(result, False)
        finally:
            if conn.in_transaction():
                conn.rollback()
            conn.execute(sa.text("SELECT pg_advisory_unlock(:ns, hashtext(:a || '/' || :k))"),
                         {"ns": IDEMPOTENCY_LOCK_NS, "a": account_id, "k": idempotency_key})
            conn.commit()


def _deliver_bulk(engine: sa.Engine, settings: ApiSettings, account_id: str, rows: list[dict[str, str | None]],
                  size: int, namespace: str | None = None) -> BulkResult:
    return bulk_result(intake.deliver(engine, settings, account_id, rows, name="api-bulk", size_bytes=size,
                                      namespace=namespace))


# ------------------------------------------------------------------------------------------------ listing


def encode_cursor(created_at: datetime, patient_id: str) -> str:
    raw = json.dumps([created_at.isoformat(), patient_id], separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(cursor: str) -> tuple[datetime, str]:
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        created, pid = json.loads(raw)
        return datetime.fromisoformat(created), str(pid)
    except (ValueError, TypeError, UnicodeDecodeError) as exc:
        raise Problem(422, "invalid_cursor", "the cursor is not one this API returned; start again without it") from exc


def like_prefix(prefix: str) -> str:
    escaped = prefix.lower().replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return escaped + "%"


def list_patients(engine: sa.Engine, *, account_id: str, all_accounts: bool, limit: int, cursor: str | None,
                  filters: dict[str, Any]) -> tuple[list[Patient], str | None]:
    params: dict[str, Any] = {"account_id": account_id, "all_accounts": all_accounts, "page_limit": limit + 1,
                              "status": filters.get("status"), "external_id": filters.get("external_id"),
                              "clinician_id": filters.get("clinician_id"),
                              "created_since": filters.get("created_since"),
                              "updated_since": filters.get("updated_since"),
                              "email_key": None, "last_name_like": None, "after_created": None, "after_id": None}
    if filters.get("email") is not None:
        key = email_key(filters["email"])
        if key is None:
            raise Problem(422, "invalid_email", "the email filter is not a syntactically valid address",
                          field="email")
        params["email_key"] = key
    if filters.get("last_name"):
        params["last_name_like"] = like_prefix(filters["last_name"])
    if cursor:
        params["after_created"], params["after_id"] = decode_cursor(cursor)
    with engine.connect() as conn:
        rows = sql.run(conn, "patients_page", **params).mappings().all()
        conn.commit()
    items = [Patient(**r) for r in rows[:limit]]
    nxt = encode_cursor(items[-1].created_at, items[-1].id) if len(rows) > limit and items else None
    return items, nxt
