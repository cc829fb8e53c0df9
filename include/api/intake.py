"""Patients in, through the import engine: JSON records -> ``RawRecord``s -> ``include.imports.direct``.

The API adds no rule of its own. A JSON record is handed over as a CSV row would be (the platform
header's fields, values untouched); the account's API source is the account's configured upload
source (``<prefix><account_id>`` in clinic_sources.yaml: its phone region and default clinician) read
with ISO dates, else a source with the API's defaults. The engine normalizes, stages, decides, merges,
logs the changes and writes the ledger; this module only builds the records and the source.
"""

from __future__ import annotations

import logging
import threading
import time
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

import anyio
import sqlalchemy as sa

from include.api.async_sessions import AsyncSessions
from include.api.errors import Problem
from include.api.settings import ApiSettings
from include.imports import direct, staging
from include.imports.record_normalizer import normalize_record
from include.imports.records import RawRecord
from include.imports.sources import SourceConfig, load_sources, source_from_dict, sources_fingerprint

#: The fields a JSON record may carry (the platform's CSV header).
RECORD_FIELDS = ("external_id", "first_name", "last_name", "email", "phone", "date_of_birth")


def upload_source(account_id: str, settings: ApiSettings) -> SourceConfig | None:
    """The account's configured upload source, if any (``<prefix><account_id>``)."""
    return load_sources().get(f"{settings.upload_source_prefix}{account_id}")


#: api_source answers by (account, namespace, the settings that shape it, the sources document's fingerprint):
#: (monotonic expiry, source). Reading and validating the sources document costs milliseconds of CPU (YAML +
#: pydantic); a single create must not pay it on every call. A local file that changes is read again at
#: once (its size and mtime are in the key); a document on object storage after
#: GENASCOPE_API_SOURCES_CACHE_SECONDS (0: read the document on every call).
_SOURCE_CACHE: dict[tuple[object, ...], tuple[float, SourceConfig]] = {}
_SOURCE_CACHE_MAX = 4096
_SOURCE_CACHE_LOCK = threading.Lock()


def api_source(account_id: str, settings: ApiSettings, namespace: str | None = None) -> SourceConfig:
    """How JSON records of ``account_id`` are read: ISO dates, the upload source's region and clinician, and
    the identifier namespace the call names (default: the account's API namespace, docs/contracts/identity.md 1b).
    Kept for ``settings.sources_cache_seconds`` (an edited sources document is read again after that)."""
    ttl = settings.sources_cache_seconds
    key = _source_key(account_id, settings, namespace)
    now = time.monotonic()
    if ttl > 0:
        hit = cached_api_source(account_id, settings, namespace, key=key)
        if hit is not None:
            return hit
    source = _read_api_source(account_id, settings, namespace)
    if ttl > 0:
        with _SOURCE_CACHE_LOCK:
            if len(_SOURCE_CACHE) >= _SOURCE_CACHE_MAX:
                _SOURCE_CACHE.clear()
            _SOURCE_CACHE[key] = (now + ttl, source)
    return source


def _source_key(account_id: str, settings: ApiSettings, namespace: str | None) -> tuple[object, ...]:
    return (account_id, namespace, settings.upload_source_prefix, settings.phone_region, *sources_fingerprint())


def cached_api_source(account_id: str, settings: ApiSettings, namespace: str | None = None, *,
                      key: tuple[object, ...] | None = None) -> SourceConfig | None:
    """``api_source`` from the cache only (no read of the sources document), or None."""
    if settings.sources_cache_seconds <= 0:
        return None
    with _SOURCE_CACHE_LOCK:
        hit = _SOURCE_CACHE.get(key or _source_key(account_id, settings, namespace))
    return hit[1] if hit is not None and hit[0] > time.monotonic() else None


def _read_api_source(account_id: str, settings: ApiSettings, namespace: str | None) -> SourceConfig:
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

#: The single create's one statement (psycopg placeholders: it runs on include.api.async_sessions).
SINGLE_SQL = (
    "SELECT patient_pipeline.api_create_one(%(account)s, %(namespace)s, %(clinician)s, %(source_id)s, %(run_id)s, "
    "%(sha)s, %(size)s, %(external_id)s, %(first)s, %(last)s, %(email)s, %(phone)s, %(dob)s, %(issues)s, "
    "%(reason)s, %(reason_field)s, CAST(%(raw)s AS jsonb), %(audit_key)s, %(audit_ms)s)")


@dataclass(frozen=True)
class SingleResult:
    """One single create: the ledger entry, the record's outcome and, unless quarantined, the patient row."""

    file_id: int
    outcome: direct.RecordOutcome
    patient: dict[str, object] | None


async def create_single(sessions: AsyncSessions, settings: ApiSettings, account_id: str,
                        record: dict[str, str | None], *, size_bytes: int, namespace: str | None = None,
                        audit_key: str | None = None, started: float | None = None) -> SingleResult:
    """``POST /api/patients``: the record normalized here (the import's normalizers), then decided and written by
    ``patient_pipeline.api_create_one`` in one transaction and one round trip (per-person advisory locks,
    index lookups, insert or update, cross-reference, change log, review item, ledger row). The same rules
    and outcomes as a bulk of one (include/sql/pipeline/510_writes.sql). On the event loop: the account's
    source comes from the cache (read in a worker thread when it is not there), the statement from
    ``sessions``; nothing blocks the loop."""
    source = cached_api_source(account_id, settings, namespace)
    if source is None:
        source = await anyio.to_thread.run_sync(api_source, account_id, settings, namespace)
    params = single_params(source, account_id, record, size_bytes=size_bytes, audit_key=audit_key, started=started)
    return single_result(await sessions.scalar(SINGLE_SQL, params))


def single_params(source: SourceConfig, account_id: str, record: dict[str, str | None], *, size_bytes: int,
                  audit_key: str | None, started: float | None) -> dict[str, object]:
    """The single create's statement parameters: the record through the import's normalizer and checks."""
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
    return {"account": account_id, "namespace": source.namespace, "clinician": source.default_clinician_id,
            "source_id": source.id, "run_id": f"{direct.SOURCE_KIND_API}:{call_id}",
            "sha": direct.call_fingerprint(call_id), "size": size_bytes,
            "external_id": rec.external_id, "first": rec.first_name, "last": rec.last_name, "email": rec.email,
            "phone": rec.phone, "dob": rec.date_of_birth,
            "issues": [f"{f}:{c}" for f, c in rec.field_issues] if reason is None else [],
            "reason": reason, "reason_field": reason_field, "raw": raw_json, "audit_key": audit_key,
            "audit_ms": int((time.monotonic() - started) * 1000) if started is not None else None}


def single_result(answer: dict[str, object]) -> SingleResult:
    conflicting = tuple(sorted(answer.get("conflicting") or ()))
    outcome = direct.RecordOutcome(1, answer["outcome"], answer.get("patient_id"), answer.get("reason"),
                                   answer.get("field"), conflicting)
    return SingleResult(int(answer["file_id"]), outcome, answer.get("patient"))
