"""Patients in, through the import engine: JSON records -> ``RawRecord``s -> ``include.imports.direct``.

The API adds no rule of its own. A JSON record is handed over as a CSV row would be (the platform
header's fields, values untouched); the account's API source is the account's configured upload
source (``<prefix><account_id>`` in clinic_sources.yaml: its phone region and default clinician) read
with ISO dates, else a source with the API's defaults. The engine normalizes, stages, decides, merges,
logs the changes and writes the ledger; this module only builds the records and the source.
"""

from __future__ import annotations

import logging
import time
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

import sqlalchemy as sa

from include.api.errors import Problem
from include.api.settings import ApiSettings
from include.imports import direct, staging
from include.imports.record_normalizer import normalize_record
from include.imports.records import RawRecord
from include.imports.sources import SourceConfig, load_sources, source_from_dict

#: The fields a JSON record may carry (the platform's CSV header).
RECORD_FIELDS = ("external_id", "first_name", "last_name", "email", "phone", "date_of_birth")


def upload_source(account_id: str, settings: ApiSettings) -> SourceConfig | None:
    """The account's configured upload source, if any (``<prefix><account_id>``)."""
    return load_sources().get(f"{settings.upload_source_prefix}{account_id}")


def api_source(account_id: str, settings: ApiSettings, namespace: str | None = None) -> SourceConfig:
    """How JSON records of ``account_id`` are read: ISO dates, the upload source's region and clinician, and
    the identifier namespace the call names (default: the account's API namespace, docs/contracts/identity.md 1b)."""
    upload = upload_source(account_id, settings)
    return source_from_dict({
        "id": f"api-{account_id}", "account_id": account_id, "format": "csv", "landing": "api",
        "date_formats": ["%Y-%m-%d"],
        "default_phone_region": upload.default_phone_region if upload else settings.phone_region,
        "default_clinician_id": upload.default_clinician_id if upload else None,
        "max_reject_ratio": 1.0, "identifier_namespace": namespace or settings.identifier_namespace,
    })


def to_records(rows: Sequence[dict[str, str | None]]) -> list[RawRecord]:
    return [RawRecord(i + 1, {f: row.get(f) for f in RECORD_FIELDS}) for i, row in enumerate(rows)]


def ensure_account(engine: sa.Engine, account_id: str) -> None:
    with engine.connect() as conn:
        found = conn.execute(sa.text("SELECT 1 FROM accounts WHERE id = :a"), {"a": account_id}).first()
        conn.commit()
    if found is None:
        raise Problem(404, "account_not_found", "no account with this id")


def deliver(engine: sa.Engine, settings: ApiSettings, account_id: str, rows: Sequence[dict[str, str | None]], *,
            name: str, size_bytes: int, namespace: str | None = None) -> direct.DeliveryResult:
    """Import ``rows`` for the account as one ledger delivery of source kind ``api``."""
    source = api_source(account_id, settings, namespace)
    try:
        return direct.import_records(engine, source, to_records(rows), call_id=uuid.uuid4().hex, name=name,
                                     size_bytes=size_bytes, today=datetime.now(UTC).date())
    except (direct.DeliveryFailed, sa.exc.OperationalError) as exc:
        orig = getattr(exc, "orig", None)
        text = f"{exc} {getattr(orig, 'sqlstate', '')} {type(orig).__name__}"
        if "55P03" in text or "LockNotAvailable" in text:
            raise Problem(503, "account_busy", "an import of this account is running; retry in a minute",
                          headers={"Retry-After": "30"}) from None
        if "57014" in text or "QueryCanceled" in text:
            raise Problem(503, "timeout", "the database work took longer than the API's statement timeout; "
                          "send fewer rows per call", headers={"Retry-After": "5"}) from None
        if "SQLSTATE 22" in text or "DataError" in text or "CharacterNotInRepertoire" in text:
            raise Problem(422, "invalid_value", "a value of the request cannot be stored (e.g. a character the "
                          "database cannot hold); nothing was merged") from None
        # the message names the delivery, the SQLSTATE and the exception type only (never a value)
        logging.getLogger(__name__).error("%s", exc)
        raise Problem(500, "delivery_failed", "the import of this call failed; nothing was merged") from None


# ------------------------------------------------------------------------------------------ single create

#: What decide.sql refuses beyond the normalizer (the same limits: patients column widths).
MAX_PHONE = 20

SINGLE_SQL = sa.text(
    "SELECT patient_pipeline.api_create_one(:account, :namespace, :clinician, :source_id, :run_id, :sha, :size, "
    ":external_id, :first, :last, :email, :phone, :dob, :issues, :reason, :reason_field, CAST(:raw AS jsonb), "
    ":audit_key, :audit_ms)")


@dataclass(frozen=True)
class SingleResult:
    """One single create: the ledger entry, the record's outcome and, unless quarantined, the patient row."""

    file_id: int
    outcome: direct.RecordOutcome
    patient: dict[str, object] | None


def create_single(fast_engine: sa.Engine, settings: ApiSettings, account_id: str, record: dict[str, str | None],
                  *, size_bytes: int, namespace: str | None = None, audit_key: str | None = None,
                  started: float | None = None) -> SingleResult:
    """``POST /api/patients``: the record normalized here (the import's normalizers), then decided and written by
    ``patient_pipeline.api_create_one`` in one transaction and one round trip (per-person advisory locks,
    index lookups, insert or update, cross-reference, change log, review item, ledger row). The same rules
    and outcomes as a bulk of one (include/sql/pipeline/510_writes.sql)."""
    source = api_source(account_id, settings, namespace)
    raw = to_records([record])[0]
    rec = normalize_record(raw, source, datetime.now(UTC).date())
    reason, reason_field, raw_json = rec.reason, rec.reason_field, None
    if reason is not None:
        raw_json = staging.raw_json(raw.values)
    elif rec.phone is not None and len(rec.phone) > MAX_PHONE:
        reason, reason_field = "unparseable_phone", "phone"
    elif rec.external_id is None and rec.email is None:
        reason, reason_field = "missing_identifier", "external_id"
    call_id = uuid.uuid4().hex
    params = {"account": account_id, "namespace": source.namespace, "clinician": source.default_clinician_id,
              "source_id": source.id, "run_id": f"{direct.SOURCE_KIND_API}:{call_id}",
              "sha": direct.call_fingerprint(call_id), "size": size_bytes,
              "external_id": rec.external_id, "first": rec.first_name, "last": rec.last_name, "email": rec.email,
              "phone": rec.phone, "dob": rec.date_of_birth,
              "issues": [f"{f}:{c}" for f, c in rec.field_issues] if reason is None else [],
              "reason": reason, "reason_field": reason_field, "raw": raw_json, "audit_key": audit_key,
              "audit_ms": int((time.monotonic() - started) * 1000) if started is not None else None}
    for attempt in range(1, 4):
        try:
            with fast_engine.connect() as conn:
                answer = conn.execute(SINGLE_SQL, params).scalar_one()
            break
        except sa.exc.OperationalError as exc:
            # a pooled connection that is gone, or a deadlock with another writer of the same person (the
            # server rolled this call back): the call is tried again; nothing of it was written
            retry = exc.connection_invalidated or getattr(exc.orig, "sqlstate", None) in ("40P01", "40001")
            if attempt == 3 or not retry:
                raise
    conflicting = tuple(sorted(answer.get("conflicting") or ()))
    outcome = direct.RecordOutcome(1, answer["outcome"], answer.get("patient_id"), answer.get("reason"),
                                   answer.get("field"), conflicting)
    return SingleResult(int(answer["file_id"]), outcome, answer.get("patient"))
