"""Records that did not come from a file: the nightly import's engine on a batch handed over in memory.

The intake API (``include.api``) creates patients through this module, so a patient created by the
application, by a bulk call or by a clinic file follows one set of rules. ``import_records`` is one
delivery of ``RawRecord``s and runs exactly the file import's steps, through the same functions:

    ledger row (``source_kind`` = the caller's, e.g. ``api``) -> ``staging.stage`` (normalizers, COPY)
    -> ``merge.decide`` (decide.sql) + ``quarantine.write`` -> ``merge.merge`` (review queue, updates
    that never blank a value, inserts, change log, reconciliation, ledger ``merged``) -> ledger ``done``

with no account-wide lock: two deliveries of one person meet in the unique indexes and the merge's
re-decision (``include.imports.merge``), two deliveries of different people never wait for each other
(docs/concurrency-and-identity-keys.md). A bulk call of up to ``merge.CHUNK_ROWS`` rows merges in one
transaction. What differs from a file, on purpose:

- **every row's outcome is returned** (inserted / updated / unchanged / duplicate / quarantined, patient
  id, reason code and field) instead of a file report; the caller answers with it;
- **no reject-ratio hold and no GX batch gate**: a caller is told row by row what was refused, there is
  no clinic export to hold back whole (the database constraints and decide.sql's rules still apply);
- **the fingerprint is the call's, not the content's**: the ledger's "same bytes twice" rule is for files.
  The same rows sent twice are *matched* (unchanged), never a second patient; retries of one call are
  recognised by the caller's idempotency key, not here;
- **atomic**: if any step fails, nothing is merged; the ledger row ends ``rejected`` with reason
  ``delivery_failed`` and the staged rows, decisions and quarantine of the call are removed.

Everything logged or raised here is PHI-free (ids, counts, reason codes).
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date

import sqlalchemy as sa

from include.core import pipeline_schema
from include.core.errors import GenascopeError
from include.imports import field_issues, ledger, merge, quarantine, staging
from include.imports.records import RawRecord
from include.imports.sources import SourceConfig

log = logging.getLogger(__name__)

#: Ledger ``source_kind`` of rows written through this module by the intake API.
SOURCE_KIND_API = "api"


@dataclass(frozen=True)
class RecordOutcome:
    """What happened to one record (``record_no`` is the caller's 1-based position)."""

    record_no: int
    outcome: str  # inserted | updated | unchanged | duplicate | quarantined
    patient_id: str | None = None
    reason_code: str | None = None
    reason_field: str | None = None
    conflicting_patient_ids: tuple[str, ...] = ()


@dataclass(frozen=True)
class DeliveryResult:
    """The ledger row of the delivery, its reconciled counts and every record's outcome."""

    file_id: int
    counts: merge.MergeCounts
    outcomes: list[RecordOutcome] = field(default_factory=list)

    @property
    def patient_ids(self) -> list[str]:
        return [o.patient_id for o in self.outcomes if o.patient_id]


class DeliveryFailed(GenascopeError, RuntimeError):
    """A step of the delivery failed; nothing was merged. The message carries ids and SQLSTATE only."""


def call_fingerprint(call_id: str) -> str:
    """The ledger's SHA-256 of a delivery that is not a file: derived from the call id (unique per call)."""
    return hashlib.sha256(f"direct-delivery:{call_id}".encode()).hexdigest()


def import_records(engine: sa.Engine, source: SourceConfig, records: Sequence[RawRecord], *, call_id: str,
                   name: str, size_bytes: int, today: date, source_kind: str = SOURCE_KIND_API) -> DeliveryResult:
    """Import ``records`` for ``source``'s account as one ledger delivery (see the module docstring).

    ``call_id`` identifies the delivery (the ledger's ``dag_run_id`` is ``<kind>:<call_id>``); ``name`` is
    the ledger's file name (``api-create``, ``api-bulk``). Registering and staging touch only this
    delivery's rows; the decisions and the merge take no account-wide lock (see the module docstring).
    """
    run_id = f"{source_kind}:{call_id}"
    with engine.connect() as conn:
        reg = ledger.register(conn, source, name, run_id, call_fingerprint(call_id), size_bytes, run_id)
        file_id = reg.row.file_id
        try:
            staged = staging.stage(conn, file_id, records, source, today)
            with conn.begin():
                conn.exec_driver_sql("SET LOCAL synchronous_commit = off")  # bookkeeping; the merge commits durably
                staging.run(conn, "mark_source_kind", file_id=file_id, source_kind=source_kind)
                ledger.update(conn, file_id, status="staged", rows_read=staged.rows_read, rows_staged=staged.rows_read)
            counts, outcomes = _decide_and_merge(conn, source, file_id, staged.rows_read)
        except BaseException as exc:
            _fail(conn, file_id)
            if isinstance(exc, sa.exc.DBAPIError):
                sqlstate = getattr(exc.orig, "sqlstate", None) or "unknown"
                raise DeliveryFailed(f"delivery {file_id} failed: SQLSTATE {sqlstate} ({type(exc.orig).__name__}); "
                                     "nothing was merged") from None
            raise
    log.info("delivery %s (%s) of source %s: %s", file_id, source_kind, source.id, counts.as_dict())
    return DeliveryResult(file_id, counts, outcomes)


def ensure_schema(engine: sa.Engine) -> None:
    """The pipeline schema (ledger, staging, quarantine, ...): call once at start-up."""
    with engine.connect() as conn:
        pipeline_schema.ensure(conn)


def _decide_and_merge(conn: sa.Connection, source: SourceConfig, file_id: int,
                      rows_read: int) -> tuple[merge.MergeCounts, list[RecordOutcome]]:
    with conn.begin():
        decided = merge.decide(conn, file_id, source)
        quarantine.write(conn, file_id)
        ledger.update(conn, file_id, field_issue_rows=field_issues.write(conn, file_id))
    if decided.total != rows_read:
        raise merge.ReconciliationFailed(
            f"delivery {file_id}: {rows_read} records but {decided.total} decided; nothing was merged")
    counts = merge.merge(conn, file_id, source, rows_read)
    with conn.begin():
        conn.exec_driver_sql("SET LOCAL synchronous_commit = off")  # the merge above committed durably
        outcomes = _outcomes(conn, file_id)
        staging.discard(conn, file_id)
        ledger.update(conn, file_id, status="done", finished=True)
    return counts, outcomes


def _outcomes(conn: sa.Connection, file_id: int) -> list[RecordOutcome]:
    conflicts: dict[int, list[str]] = {}
    for row in staging.run(conn, "conflicting_patients", file_id=file_id):
        conflicts.setdefault(int(row.record_no), []).append(row.patient_id)
    out = []
    for row in staging.run(conn, "record_outcomes", file_id=file_id):
        out.append(RecordOutcome(int(row.record_no), row.outcome, row.patient_id, row.reason, row.reason_field,
                                 tuple(sorted(conflicts.get(int(row.record_no), ())))))
    return out


def _fail(conn: sa.Connection, file_id: int) -> None:
    """Nothing of a failed delivery stays: work rows and quarantine removed, ledger ``rejected``."""
    if conn.in_transaction():
        conn.rollback()
    try:
        with conn.begin():
            staging.discard(conn, file_id)
            staging.run(conn, "clear_quarantine", file_id=file_id)
            ledger.update(conn, file_id, status="rejected", reason_code="delivery_failed", finished=True)
    except sa.exc.DBAPIError:  # the connection itself is gone: the ledger row stays 'registered'/'staged'
        log.warning("delivery %s: could not record the failure in the ledger", file_id)


__all__ = ["DeliveryFailed", "DeliveryResult", "RecordOutcome", "SOURCE_KIND_API", "import_records"]
