"""Set-based decisions and merge of one staged file into ``patients`` (within the source's account).

``decide`` classifies every staged row (quarantine / duplicate / match / insert; see
``include/sql/imports/decide.sql``), with no lock an application write needs. ``merge`` applies the
decisions **in bounded chunks** (``GENASCOPE_IMPORT_MERGE_CHUNK_ROWS`` rows to insert or update, default
10,000), one transaction per chunk: updates that never blank a value, inserts of new ``pending`` patients
(``inactive`` when the source reports them deceased or inactive; an update only ever turns a deceased person
``inactive``, never back to ``pending``: change reason ``deceased``), the cross-reference of identifiers
(``patient_identifier``, docs/contracts/identity.md 1b), the change log (one row per updated patient in
``import_change_log``; inserts in blocks in ``import_insert_log``; both per patient in the view
``import_changes``) and the ledger's ``merged_through`` and running counts. Review items (name + DOB
look-alikes, feed events, identity conflicts) are written once before the chunks.

Serialization is per person, not per account (docs/concurrency-and-identity-keys.md): an import holds no
account-wide lock. Two writers of one person meet in the unique indexes (``ux_patients_identity_key``,
``ux_patients_account_external_id``, the cross-reference's primary key) and the intake API's per-key
advisory locks; a chunk that meets one (23505) is rolled back, re-decided from its first record against
the patients as they are now, and applied again (up to ``REDECIDE_ROUNDS`` times); a 23505 that survives
the re-decisions (an update that would give the matched patient another patient's identity key) is
narrowed down to its row, which is quarantined as ``identity_conflict`` with a review item naming both
patients. A file never fails whole for it. A deadlock or lock timeout (40P01, 55P03) rolls the chunk back and retries it.

At the end ``rows read = inserted + updated + unchanged + duplicates + quarantined`` is checked and the
ledger moves to ``merged``; if it does not hold, the ledger says ``reconciled = false`` and
``ReconciliationFailed`` is raised (chunks already committed stay: a re-run resumes after
``merged_through``).
"""

from __future__ import annotations

import logging
import os
import random
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

import sqlalchemy as sa

from include.core.errors import GenascopeError
from include.imports import ledger
from include.imports.sources import SourceConfig
from include.imports.staging import run

log = logging.getLogger(__name__)

#: Namespace of the per-source advisory lock (two int4 keys: this and hashtext(source_id)): one delivery of a
#: source at a time (the ledger's status machine of its files). Never taken by the intake API.
SOURCE_LOCK_NS = 0x494D5053  # "IMPS"

#: Rows to insert or update per merge transaction.
CHUNK_ROWS = int(os.environ.get("GENASCOPE_IMPORT_MERGE_CHUNK_ROWS", "") or 10_000)
#: SQLSTATEs after which a chunk is rolled back and tried again (deadlock, serialization, lock timeout).
RETRYABLE = frozenset({"40P01", "40001", "55P03"})
#: Attempts per chunk for a retryable error.
MAX_ATTEMPTS = 5
#: Re-decisions of a chunk after a 23505 before the colliding row is looked for: under many concurrent writers
#: of the same people another writer can create a person again between a re-decision and its apply.
REDECIDE_ROUNDS = 3
_MAX_RECORD = 2**31 - 1


#: Formats whose files are message streams: a later record of the same external id supersedes an earlier one.
MESSAGE_FEEDS = ("hl7v2", "fhir_ndjson")


class ReconciliationFailed(GenascopeError, RuntimeError):
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
def source_lock(conn: sa.Connection, source_id: str) -> Iterator[None]:
    """Session-level advisory lock: one delivery of a source at a time (released on exit or disconnect).
    It guards the source's ledger rows; the intake API never takes it, and files of different sources of
    one account run side by side."""
    params = {"ns": SOURCE_LOCK_NS, "s": source_id}
    conn.execute(sa.text("SELECT pg_advisory_lock(:ns, hashtext(:s))"), params)
    conn.commit()
    try:
        yield
    finally:
        if conn.in_transaction():
            conn.rollback()
        conn.execute(sa.text("SELECT pg_advisory_unlock(:ns, hashtext(:s))"), params)
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


def decide(conn: sa.Connection, file_id: int, source: SourceConfig, from_record: int = 0) -> Decisions:
    """Recompute the decisions of ``file_id`` from record ``from_record`` on (caller's transaction); returns
    counts per disposition over the whole file."""
    _set_local(conn, DECIDE_SETTINGS)
    run(conn, "discard_decisions", file_id=file_id, from_record=from_record)
    run(conn, "decide", file_id=file_id, account_id=source.account_id, namespace=source.namespace,
        latest_wins=source.format in MESSAGE_FEEDS, from_record=from_record)
    conn.exec_driver_sql("ANALYZE patient_pipeline.import_decision")
    return decision_counts(conn, file_id)


@dataclass
class _Applied:
    inserted: int = 0
    updated: int = 0
    unchanged: int = 0
    conflicts: int = 0

    def __iadd__(self, other: _Applied) -> _Applied:
        self.inserted += other.inserted
        self.updated += other.updated
        self.unchanged += other.unchanged
        self.conflicts += other.conflicts
        return self


def _sqlstate(exc: BaseException) -> str | None:
    return getattr(getattr(exc, "orig", None), "sqlstate", None)


class _Merger:
    """The chunk loop of one file's merge (see the module docstring)."""

    def __init__(self, conn: sa.Connection, file_id: int, source: SourceConfig, commit: bool) -> None:
        self.conn, self.file_id, self.source, self.commit = conn, file_id, source, commit
        self.params = {"file_id": file_id, "account_id": source.account_id, "clinician_id": source.default_clinician_id,
                       "namespace": source.namespace, "origin": f"import:{file_id}"}
        self.redecided = False
        self.total = _Applied()
        self.dead_ext: list[str] = []

    def read_dead(self) -> None:
        self.dead_ext = [r for r in run(self.conn, "dead_external_ids", file_id=self.file_id).scalars()]

    # -- review items (once before the chunks, again after a re-decision)
    def reviews(self, from_record: int) -> None:
        p = {**self.params, "from_record": from_record}
        run(self.conn, "clear_reviews_from", file_id=self.file_id, from_record=from_record)
        run(self.conn, "review_name_dob", **p)
        run(self.conn, "review_events", **p)
        run(self.conn, "review_conflicts", **p)

    def redecide(self, from_record: int) -> None:
        """The rows not merged yet, decided again against the patients as they are now (own transaction)."""
        from include.imports import field_issues, quarantine

        with self.conn.begin():
            decide(self.conn, self.file_id, self.source, from_record)
            quarantine.write(self.conn, self.file_id)
            ledger.update(self.conn, self.file_id, field_issue_rows=field_issues.write(self.conn, self.file_id))
            _set_local(self.conn, BULK_SETTINGS)
            self.reviews(from_record)
            self.read_dead()
        self.redecided = True

    def bounds(self, after_record: int) -> list[int]:
        rows = run(self.conn, "merge_chunks", file_id=self.file_id, after_record=after_record,
                   chunk_rows=CHUNK_ROWS).scalars().all()
        return [int(r) for r in rows]

    def apply(self, lo: int, hi: int) -> _Applied:
        p = {**self.params, "lo": lo, "hi": hi, "dead_ext": self.dead_ext}
        upd = run(self.conn, "merge_update", **p).one()
        ins = run(self.conn, "merge_insert", **p).one()
        run(self.conn, "prune_identifiers", **p)
        run(self.conn, "merge_identifiers", **p)
        if int(ins.logged) != int(ins.inserted) or int(upd.logged) != int(upd.updated):
            raise ReconciliationFailed(
                f"file {self.file_id}: records {lo}..{hi}: the change log does not account for every change "
                f"(inserted {ins.inserted}, logged {ins.logged}; updated {upd.updated}, logged {upd.logged}); "
                "nothing of this chunk was merged. Re-run the task.")
        return _Applied(int(ins.inserted), int(upd.updated), int(upd.matched) - int(upd.updated))

    def apply_narrowing(self, lo: int, hi: int) -> _Applied:
        """``apply`` under a savepoint; on 23505, halve the range until the row that collides is found and
        quarantine it (``identity_conflict``); every other row merges."""
        sp = self.conn.begin_nested()
        try:
            done = self.apply(lo, hi)
            sp.commit()
            return done
        except sa.exc.IntegrityError as exc:
            sp.rollback()
            if _sqlstate(exc) != "23505":
                raise
        records = run(self.conn, "merge_rows_in_range", file_id=self.file_id, lo=lo, hi=hi).scalars().all()
        if not records:
            return _Applied()
        if len(records) == 1:
            self.conflict(int(records[0]))
            return _Applied(conflicts=1)
        mid = int(records[len(records) // 2])
        out = self.apply_narrowing(lo, mid - 1)
        out += self.apply_narrowing(mid, hi)
        return out

    def conflict(self, record_no: int) -> None:
        """One row whose merge would give a patient another patient's identity: quarantined with a review item
        naming both patients (ids only)."""
        run(self.conn, "mark_identity_conflict", **self.params, record_no=record_no)
        log.warning("file %s: record %s would collide with another patient's identity key; quarantined as "
                    "identity_conflict (review item written)", self.file_id, record_no)

    def chunk(self, lo: int, hi: int) -> _Applied:
        """One chunk in its own transaction (or savepoint, for a dry run); retried as the module says."""
        narrow = False
        redecided = 0
        for attempt in range(1, MAX_ATTEMPTS + REDECIDE_ROUNDS + 1):
            tx = self.conn.begin() if self.commit else self.conn.begin_nested()
            try:
                if self.commit:
                    _set_local(self.conn, BULK_SETTINGS)
                done = self.apply_narrowing(lo, hi) if narrow else self.apply(lo, hi)
                if self.commit:
                    ledger.update(self.conn, self.file_id, merged_through=hi,
                                  **self.running(done))
                tx.commit()
                return done
            except sa.exc.DBAPIError as exc:
                if tx.is_active:
                    tx.rollback()
                code = _sqlstate(exc)
                if code == "23505" and not narrow:
                    redecided += 1
                    log.info("file %s: records from %s met another writer's patient; re-deciding them (round %d)",
                             self.file_id, lo, redecided)
                    if redecided > 1:  # let the other writer's transaction finish before deciding again
                        time.sleep(0.02 * redecided * (0.5 + random.random()))
                    if self.commit:
                        self.redecide(lo)
                    # after a few rounds, look for the one row whose identity really collides
                    narrow = redecided >= REDECIDE_ROUNDS or not self.commit
                    continue
                if code in RETRYABLE and attempt < MAX_ATTEMPTS:
                    delay = min(2.0, 0.05 * 2 ** attempt) * (0.5 + random.random())
                    log.info("file %s: chunk from record %s: SQLSTATE %s, retrying in %.2fs", self.file_id, lo, code,
                             delay)
                    time.sleep(delay)
                    if self.commit:
                        self.redecide(lo)
                    continue
                raise
            except BaseException:
                if tx.is_active:
                    tx.rollback()
                raise
        raise AssertionError("unreachable")

    def running(self, done: _Applied) -> dict[str, int]:
        self.total += done
        return {"inserted": self.total.inserted, "updated": self.total.updated, "unchanged": self.total.unchanged}


def merge(conn: sa.Connection, file_id: int, source: SourceConfig, rows_read: int, *,
          commit: bool = True) -> MergeCounts:
    """Apply the decisions of ``file_id`` chunk by chunk and move the ledger row to ``merged``.

    ``commit=False`` (dry run) computes the exact counts in one transaction and rolls everything back.
    A re-run after a crash resumes after the ledger's ``merged_through`` (its counts so far are kept).
    """
    from include.imports import field_issues

    m = _Merger(conn, file_id, source, commit)
    row = ledger.get(conn, file_id)
    conn.commit()
    after = int(row.merged_through or 0) if commit else 0
    if after:
        m.total = _Applied(int(row.inserted or 0), int(row.updated or 0), int(row.unchanged or 0))
    outer = None if commit else conn.begin()
    try:
        tx = conn.begin_nested() if outer is not None else conn.begin()
        with tx:
            _set_local(conn, BULK_SETTINGS)
            m.reviews(after + 1)
            m.read_dead()
        bounds = m.bounds(after)
        if outer is None:
            conn.commit()
        for i, lo in enumerate(bounds):
            hi = bounds[i + 1] - 1 if i + 1 < len(bounds) else _MAX_RECORD
            done = m.chunk(lo, hi)
            if not commit:
                m.total += done
        tx = conn.begin_nested() if outer is not None else conn.begin()
        with tx:
            if m.redecided or m.total.conflicts:
                ledger.update(conn, file_id, field_issue_rows=field_issues.write(conn, file_id))
            decided = decision_counts(conn, file_id)
            quarantined = int(conn.execute(sa.text(
                "SELECT count(*) FROM patient_pipeline.import_quarantine WHERE file_id = :f"), {"f": file_id}).scalar_one())
            review = int(conn.execute(sa.text(
                "SELECT count(*) FROM patient_pipeline.import_review WHERE file_id = :f"), {"f": file_id}).scalar_one())
            counts = MergeCounts(rows_read=rows_read, inserted=m.total.inserted, updated=m.total.updated,
                                 unchanged=m.total.unchanged, duplicates=decided.duplicate, quarantined=quarantined,
                                 review_items=review)
            if commit:
                ledger.update(conn, file_id, status="merged" if counts.balanced else None,
                              reconciled=counts.balanced, **counts.as_dict())
        if not counts.balanced:
            raise ReconciliationFailed(
                f"file {file_id}: rows read {rows_read} != inserted {counts.inserted} + updated {counts.updated} + "
                f"unchanged {counts.unchanged} + duplicates {counts.duplicates} + quarantined {quarantined}; "
                "the chunks merged so far stay (ledger merged_through). Inspect the decision rows of this file_id, "
                "fix the cause, and re-run the task.")
        if outer is not None:
            outer.rollback()
        return counts
    except BaseException:
        if outer is not None and outer.is_active:
            outer.rollback()
        raise
