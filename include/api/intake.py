"""Patients in, through the import engine: JSON records -> ``RawRecord``s -> ``include.imports.direct``.

The API adds no rule of its own. A JSON record is handed over as a CSV row would be (the platform
header's fields, values untouched); the account's API source is the account's configured upload
source (``<prefix><account_id>`` in clinic_sources.yaml: its phone region and default clinician) read
with ISO dates, else a source with the API's defaults. The engine normalizes, stages, decides, merges,
logs the changes and writes the ledger; this module only builds the records and the source.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Sequence
from datetime import UTC, datetime

import sqlalchemy as sa

from include.api.errors import Problem
from include.api.settings import ApiSettings
from include.imports import direct
from include.imports.records import RawRecord
from include.imports.sources import SourceConfig, load_sources, source_from_dict

#: The fields a JSON record may carry (the platform's CSV header).
RECORD_FIELDS = ("external_id", "first_name", "last_name", "email", "phone", "date_of_birth")


def upload_source(account_id: str, settings: ApiSettings) -> SourceConfig | None:
    """The account's configured upload source, if any (``<prefix><account_id>``)."""
    return load_sources().get(f"{settings.upload_source_prefix}{account_id}")


def api_source(account_id: str, settings: ApiSettings) -> SourceConfig:
    """How JSON records of ``account_id`` are read: ISO dates, the upload source's region and clinician."""
    upload = upload_source(account_id, settings)
    return source_from_dict({
        "id": f"api-{account_id}", "account_id": account_id, "format": "csv", "landing": "api",
        "date_formats": ["%Y-%m-%d"],
        "default_phone_region": upload.default_phone_region if upload else settings.phone_region,
        "default_clinician_id": upload.default_clinician_id if upload else None,
        "max_reject_ratio": 1.0,
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
            name: str, size_bytes: int) -> direct.DeliveryResult:
    """Import ``rows`` for the account as one ledger delivery of source kind ``api``."""
    source = api_source(account_id, settings)
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
        if "23505" in text or "UniqueViolation" in text:
            # the merge would give a matched patient the identity key (or external id) another patient
            # already holds: a conflict for the caller (or a steward) to resolve, not a server failure
            raise Problem(409, "identity_conflict", "the update would give the matched patient the identity of "
                          "another patient of the account; nothing was merged; conflicting patient ids: unknown "
                          "(resolve it with `steward merge` or correct the values)") from None
        # the message names the delivery, the SQLSTATE and the exception type only (never a value)
        logging.getLogger(__name__).error("%s", exc)
        raise Problem(500, "delivery_failed", "the import of this call failed; nothing was merged") from None
