"""Set-based decisions and merge of one staged file into ``patients`` (within the source's account).

``decide`` classifies every staged row (quarantine / duplicate / match / insert; see
``include/sql/imports/decide.sql``). ``merge`` applies the decisions in one transaction: review items,
updates that never blank a value, inserts of new ``pending`` patients (``inactive`` when the source reports
them deceased or inactive; an update only ever turns a deceased person ``inactive``, never back to
``pending``: change reason ``deceased``), the change log (one row per
updated patient in ``import_change_log``; inserts in blocks in ``import_insert_log``; both per patient in
the view ``import_changes``), the reconciliation
``rows read = inserted + updated + unchanged + duplicates + quarantined`` and the ledger's move to
``merged``. If the equation does not hold, nothing is committed and ``ReconciliationFailed`` is raised.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

import sqlalchemy as sa

from include.imports import ledger
from include.imports.sources import SourceConfig
from include.imports.staging import run

#: Namespace of the per-account advisory lock (two int4 keys: this and hashtext(account_id)).
ACCOUNT_LOCK_NS = 0x494D5054  # "IMPT"


#: Formats whose files are message streams: a later record of the same external id supersedes an earlier one.
MESSAGE_FEEDS = ("hl7v2", "fhir_ndjson")


class ReconciliationFailed(RuntimeError):
    """rows read != inserted + updated + unchanged + duplicates + quarantined; nothing was merged."""


@dataclass(frozen=True)
class Decisions:
    quarantine: int = 0
    duplicate: int = 0
    match: int = 0
    insert: int = 0

    @property
    def total(self) -> int:
        return self.quarantine + self.duplicate + self.match + self.insert


@dataclass(frozen=True)
class MergeCounts:
    rows_read: int
    inserted: int
    updated: int
    unchanged: int
    duplicates: int
    quarantined: int
    review_items: int

    @property
    def balanced(self) -> bool:
        return self.rows_read == self.inserted + self.updated + self.unchanged + self.duplicates + self.quarantined

    def as_dict(self) -> dict[str, int]:
        return {k: int(getattr(self, k)) for k in self.__dataclass_fields__}


@contextmanager
def account_lock(conn: sa.Connection, account_id: str) -> Iterator[None]:
    """Session-level advisory lock: one file of an account at a time (released on exit or disconnect)."""
    conn.execute(sa.text("SELECT pg_advisory_lock(:ns, hashtext(:a))"), {"ns": ACCOUNT_LOCK_NS, "a": account_id})
    conn.commit()
    try:
        yield
    finally:
        if conn.in_transaction():
            conn.rollback()
        conn.execute(sa.text("SELECT pg_advisory_unlock(:ns, hashtext(:a))"), {"ns": ACCOUNT_LOCK_NS, "a": account_id})
        conn.commit()


def decision_counts(conn: sa.Connection, file_id: int) -> Decisions:
    counts = {r.disposition: int(r.n) for r in run(conn, "decision_counts", file_id=file_id)}
    return Decisions(**{k: counts.get(k, 0) for k in Decisions.__dataclass_fields__})


#: Settings of the decision and merge transactions: big sorts and hashes in memory; no JIT (compiling the
#: large expressions of decide.sql costs seconds and the plans run once); for decide.sql, hash joins against
#: the account's patients (a merge join would sort the whole file once more).
BULK_SETTINGS = ("SET LOCAL work_mem = '256MB'", "SET LOCAL jit = off")
DECIDE_SETTINGS = (*BULK_SETTINGS, "SET LOCAL enable_mergejoin = off")


def _set_local(conn: sa.Connection, settings: tuple[str, ...]) -> None:
    for statement in settings:
        conn.exec_driver_sql(statement)


def decide(conn: sa.Connection, file_id: int, source: SourceConfig) -> Decisions:
    """Recompute the decisions of ``file_id`` (caller's transaction); returns counts per disposition."""
    _set_local(conn, DECIDE_SETTINGS)
    run(conn, "discard_decisions", file_id=file_id)
    run(conn, "decide", file_id=file_id, account_id=source.account_id, latest_wins=source.format in MESSAGE_FEEDS)
    conn.exec_driver_sql("ANALYZE patient_pipeline.import_decision")
    return decision_counts(conn, file_id)


def merge(conn: sa.Connection, file_id: int, source: SourceConfig, rows_read: int, *,
          commit: bool = True) -> MergeCounts:
    """Apply the decisions of ``file_id`` in one transaction and move the ledger row to ``merged``.

    ``commit=False`` (dry run) computes the exact counts and rolls everything back.
    """
    tx = conn.begin()
    try:
        _set_local(conn, BULK_SETTINGS)
        params = {"file_id": file_id, "account_id": source.account_id, "clinician_id": source.default_clinician_id}
        decided = decision_counts(conn, file_id)
        review = run(conn, "review_name_dob", **params).rowcount
        review += run(conn, "review_events", **params).rowcount
        upd = run(conn, "merge_update", **params).one()
        ins = run(conn, "merge_insert", **params).one()
        quarantined = int(conn.execute(sa.text(
            "SELECT count(*) FROM patient_pipeline.import_quarantine WHERE file_id = :f"), {"f": file_id}).scalar_one())
        counts = MergeCounts(rows_read=rows_read, inserted=int(ins.inserted), updated=int(upd.updated),
                             unchanged=int(upd.unchanged), duplicates=decided.duplicate, quarantined=quarantined,
                             review_items=review)
        consistent = (counts.balanced and counts.inserted == decided.insert and int(ins.logged) == counts.inserted
                      and counts.updated + counts.unchanged == decided.match and int(upd.logged) == counts.updated)
        if not consistent:
            raise ReconciliationFailed(
                f"file {file_id}: rows read {rows_read} != inserted {counts.inserted} + updated {counts.updated} + "
                f"unchanged {counts.unchanged} + duplicates {counts.duplicates} + quarantined {quarantined} "
                f"(decisions: {decided}); nothing was merged. Inspect the staging/decision rows of this file_id, "
                "fix the cause, and re-run the task."
            )
        if commit:
            ledger.update(conn, file_id, status="merged", reconciled=True, **counts.as_dict())
            tx.commit()
        else:
            tx.rollback()
        return counts
    except BaseException:
        if tx.is_active:
            tx.rollback()
        raise
