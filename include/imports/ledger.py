"""The import ledger (``patient_pipeline.import_file``): one row per delivered file and its status machine.

``registered -> staged -> merged -> done``; ``rejected`` (file-level problem), ``held`` (reject ratio or
data-quality gate; ``reason_code`` with the operator's PHI-free ``reason_message``), ``duplicate`` (same SHA-256 already done for the source), ``dry_run``. Registering a
file whose content already has a live row (registered/staged/merged) resumes that row, so a task killed
anywhere converges when it is run again.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import sqlalchemy as sa

from include.imports.sources import SourceConfig

LIVE = ("registered", "staged", "merged")
COUNT_FIELDS = ("rows_read", "inserted", "updated", "unchanged", "duplicates", "quarantined")


@dataclass(frozen=True)
class LedgerRow:
    file_id: int
    source_id: str
    status: str
    sha256: str
    attempts: int = 1
    reason_code: str | None = None
    duplicate_of: int | None = None
    rows_read: int | None = None
    rows_staged: int | None = None
    inserted: int | None = None
    updated: int | None = None
    unchanged: int | None = None
    duplicates: int | None = None
    quarantined: int | None = None
    review_items: int | None = None
    reconciled: bool | None = None
    gx_success: bool | None = None
    dag_run_id: str | None = None
    field_issue_rows: int | None = None
    unsupported_messages: int | None = None
    reason_message: str | None = None
    merged_through: int | None = None  # last record number of the last merged chunk (a re-run resumes after it)
    file_name: str | None = None  # the delivery's name as the landing shows it (reports name files by it)

    def counts(self) -> dict[str, int]:
        return {k: int(getattr(self, k) or 0)
                for k in (*COUNT_FIELDS, "review_items", "field_issue_rows", "unsupported_messages")}


@dataclass(frozen=True)
class Registration:
    row: LedgerRow
    resumed: bool = False
    extra: dict[str, object] = field(default_factory=dict)


_COLS = ", ".join(LedgerRow.__dataclass_fields__)


def get(conn: sa.Connection, file_id: int) -> LedgerRow:
    row = conn.execute(sa.text(f"SELECT {_COLS} FROM patient_pipeline.import_file WHERE file_id = :f"),
                       {"f": file_id}).mappings().one()
    return LedgerRow(**row)


def _find(conn: sa.Connection, source_id: str, sha256: str, statuses: tuple[str, ...]) -> LedgerRow | None:
    row = conn.execute(sa.text(
        f"SELECT {_COLS} FROM patient_pipeline.import_file WHERE source_id = :s AND sha256 = :h "
        "AND status = ANY(:st) ORDER BY file_id DESC LIMIT 1"), {"s": source_id, "h": sha256, "st": list(statuses)},
    ).mappings().first()
    return LedgerRow(**row) if row else None


def latest_by_name(conn: sa.Connection, source_id: str, file_name: str) -> LedgerRow | None:
    """The newest ledger row of a file name (used when a retried task finds the file already moved)."""
    row = conn.execute(sa.text(
        f"SELECT {_COLS} FROM patient_pipeline.import_file WHERE source_id = :s AND file_name = :n "
        "ORDER BY file_id DESC LIMIT 1"), {"s": source_id, "n": file_name}).mappings().first()
    return LedgerRow(**row) if row else None


def _insert(conn: sa.Connection, source: SourceConfig, file_name: str, location: str, sha256: str, size: int,
            run_id: str, status: str, duplicate_of: int | None = None) -> int:
    return int(conn.execute(sa.text(
        "INSERT INTO patient_pipeline.import_file (source_id, account_id, file_name, location, sha256, size_bytes, "
        "status, duplicate_of, dag_run_id) VALUES (:s, :a, :n, :l, :h, :z, :st, :d, :r) RETURNING file_id"),
        {"s": source.id, "a": source.account_id, "n": file_name, "l": location, "h": sha256, "z": size,
         "st": status, "d": duplicate_of, "r": run_id}).scalar_one())


def register(conn: sa.Connection, source: SourceConfig, file_name: str, location: str, sha256: str, size: int,
             run_id: str, *, dry_run: bool = False) -> Registration:
    """Find or create the ledger row of this delivery (one transaction; the caller holds the account lock).

    - content already ``done`` for the source -> a new ``duplicate`` row pointing at it;
    - a live row (registered/staged/merged) -> resumed (attempts + 1, run id updated);
    - otherwise a new ``registered`` row (``dry_run`` rows are never resumed or matched).
    """
    with conn.begin():
        done = _find(conn, source.id, sha256, ("done",))
        if done is not None:
            if dry_run:
                return Registration(done, extra={"already_done": True})
            fid = _insert(conn, source, file_name, location, sha256, size, run_id, "duplicate", done.file_id)
            _finish(conn, fid)
            return Registration(get(conn, fid))
        if dry_run:
            fid = _insert(conn, source, file_name, location, sha256, size, run_id, "dry_run")
            return Registration(get(conn, fid))
        live = _find(conn, source.id, sha256, LIVE)
        if live is not None:
            conn.execute(sa.text(
                "UPDATE patient_pipeline.import_file SET attempts = attempts + 1, dag_run_id = :r, location = :l, "
                "updated_at = now() AT TIME ZONE 'utc' WHERE file_id = :f"),
                {"r": run_id, "l": location, "f": live.file_id})
            return Registration(get(conn, live.file_id), resumed=True)
        fid = _insert(conn, source, file_name, location, sha256, size, run_id, "registered")
        return Registration(get(conn, fid))


def _finish(conn: sa.Connection, file_id: int) -> None:
    conn.execute(sa.text("UPDATE patient_pipeline.import_file SET finished_at = now() AT TIME ZONE 'utc' "
                         "WHERE file_id = :f"), {"f": file_id})


def update(conn: sa.Connection, file_id: int, *, status: str | None = None, finished: bool = False,
           **values: object) -> None:
    """Set the status and/or columns of one ledger row (inside the caller's transaction)."""
    allowed = set(LedgerRow.__dataclass_fields__) | {"report_path", "location"}
    unknown = set(values) - allowed
    if unknown:
        raise ValueError(f"unknown ledger columns: {sorted(unknown)}")
    sets = [f"{k} = :{k}" for k in values]
    if status is not None:
        sets.append("status = :status")
        values["status"] = status
    if finished:
        sets.append("finished_at = now() AT TIME ZONE 'utc'")
    sets.append("updated_at = now() AT TIME ZONE 'utc'")
    conn.execute(sa.text(f"UPDATE patient_pipeline.import_file SET {', '.join(sets)} WHERE file_id = :file_id"),
                 {**values, "file_id": file_id})


def rows_for_run(conn: sa.Connection, run_id: str) -> list[LedgerRow]:
    rows = conn.execute(sa.text(
        f"SELECT {_COLS} FROM patient_pipeline.import_file WHERE dag_run_id = :r ORDER BY file_id"),
        {"r": run_id}).mappings().all()
    return [LedgerRow(**r) for r in rows]
