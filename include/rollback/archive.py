"""The rollback archive: every patients row and every link to a patient, copied into ``patient_pipeline``
under the rollback's run id before anything is dropped, verified against the live tables, exported.

Sources (each archived only while it exists in the live schema; once a downgrade dropped it, the
archive keeps the last verified copy and is never pruned again):

* ``patients``                 every row, all columns (``row_data`` = ``to_jsonb(row)``);
* ``invite``                   ``invites.patient_id``       (revision 20250528 and later);
* ``chat_session``             ``chat_sessions.patient_id`` (revision 20250528 and later);
* ``user``                     ``patients.user_id``         (revision 20250529 and later).

All bulk work is set-based SQL in ``include/sql/rollback/``. Nothing here logs or raises PHI: ids,
counts and checksums only. The export file holds PHI and is written with mode 0600.
"""

from __future__ import annotations

import json
import logging
import os
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import sqlalchemy as sa

from include.core import pipeline_schema, private_files, sql_files
from include.rollback.errors import ArchiveIncomplete, ArchiveNotStarted

log = logging.getLogger(__name__)

PATIENTS = "patients"
INVITE = "invite"
CHAT_SESSION = "chat_session"
USER = "user"

#: source -> (table, column that must exist for the source to be live, sync SQL, verify SQL)
SOURCES: dict[str, tuple[str, str, str, str]] = {
    PATIENTS: ("patients", "id", "archive_patients", "verify_patients"),
    INVITE: ("invites", "patient_id", "archive_links_invites_invite", "verify_links_invites_invite"),
    CHAT_SESSION: ("chat_sessions", "patient_id", "archive_links_chat_sessions_chat_session",
                   "verify_links_chat_sessions_chat_session"),
    USER: ("patients", "user_id", "archive_links_patients_user", "verify_links_patients_user"),
}
LINK_SOURCES = (INVITE, CHAT_SESSION, USER)


@dataclass(frozen=True)
class SourceSync:
    source: str
    live_rows: int
    written: int
    pruned: int


@dataclass(frozen=True)
class SourceCheck:
    """One source: live vs archived rows and checksums; ``missing`` live rows the archive lacks."""

    source: str
    live: bool
    live_rows: int
    archived_rows: int
    live_checksum: str
    archived_checksum: str
    missing: int
    sample_ids: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        if not self.live:  # dropped already: the archive is the only copy, nothing to compare
            return True
        return (self.live_rows == self.archived_rows and self.live_checksum == self.archived_checksum
                and self.missing == 0)

    def describe(self) -> str:
        if not self.live:
            return f"{self.source}: no longer in the live schema; archive keeps {self.archived_rows}"
        return (f"{self.source}: live {self.live_rows}, archived {self.archived_rows}, checksum "
                f"{'equal' if self.live_checksum == self.archived_checksum else 'different'}, "
                f"{self.missing} live rows not archived" + (f" (ids {', '.join(self.sample_ids)})"
                                                            if self.sample_ids else ""))


@dataclass(frozen=True)
class ArchiveCheck:
    run_id: str
    checks: list[SourceCheck]

    @property
    def ok(self) -> bool:
        return all(c.ok for c in self.checks)

    def failures(self) -> list[str]:
        return [c.describe() for c in self.checks if not c.ok]

    def archived_counts(self) -> dict[str, int]:
        return {c.source: c.archived_rows for c in self.checks}

    def as_dict(self) -> dict[str, object]:
        return {"run_id": self.run_id, "ok": self.ok,
                "checks": [{**asdict(c), "ok": c.ok} for c in self.checks]}


@dataclass(frozen=True)
class ArchiveResult:
    run_id: str
    synced: list[SourceSync]
    not_live: list[str]

    def as_dict(self) -> dict[str, object]:
        return {"run_id": self.run_id, "synced": [asdict(s) for s in self.synced], "not_live": self.not_live}


@dataclass(frozen=True)
class ExportResult:
    path: str
    patients: int
    links: int
    mode: str


# ---------------------------------------------------------------- the live schema
def live_sources(conn: sa.Connection) -> dict[str, bool]:
    """Which sources exist in the live schema right now (the revision decides)."""
    rows = conn.execute(sa.text(
        "SELECT table_name, column_name FROM information_schema.columns WHERE table_schema = current_schema() "
        "AND (table_name, column_name) IN (('patients', 'id'), ('invites', 'patient_id'), "
        "('chat_sessions', 'patient_id'), ('patients', 'user_id'))")).all()
    conn.commit()
    present = {(t, c) for t, c in rows}
    return {source: (table, column) in present for source, (table, column, _, _) in SOURCES.items()}


def live_counts(conn: sa.Connection) -> dict[str, int]:
    """Rows per live source (0 for a source that does not exist at this revision)."""
    live = live_sources(conn)
    queries = {
        PATIENTS: "SELECT count(*) FROM patients",
        INVITE: "SELECT count(patient_id) FROM invites",
        CHAT_SESSION: "SELECT count(patient_id) FROM chat_sessions",
        USER: "SELECT count(user_id) FROM patients",
    }
    counts = {source: int(conn.execute(sa.text(q)).scalar()) if live[source] else 0 for source, q in queries.items()}
    conn.commit()
    return counts


# ---------------------------------------------------------------- the archive header
def start(conn: sa.Connection, run_id: str, dag_id: str, *, revision_before: str | None, target_revision: str,
          preflight_counts: dict[str, int]) -> None:
    """Open this run's archive (idempotent: a rerun keeps the first attempt's preflight counts)."""
    pipeline_schema.ensure(conn)
    conn.execute(sa.text(
        """
        INSERT INTO patient_pipeline.rollback_archives (run_id, dag_id, revision_before, target_revision,
                                                        preflight_counts)
        VALUES (:r, :d, :rev, :target, CAST(:counts AS jsonb))
        ON CONFLICT (run_id) DO NOTHING
        """), {"r": run_id, "d": dag_id, "rev": revision_before, "target": target_revision,
               "counts": json.dumps(preflight_counts)})
    conn.commit()


def header(conn: sa.Connection, run_id: str) -> dict[str, object]:
    row = conn.execute(sa.text(
        "SELECT run_id, status, revision_before, target_revision, preflight_counts, archived_counts, verified_at, "
        "export_file, restored_by_run_id FROM patient_pipeline.rollback_archives WHERE run_id = :r"),
        {"r": run_id}).mappings().first()
    conn.commit()
    if row is None:
        raise ArchiveNotStarted(
            f"rollback run {run_id} has no archive record: its preflight did not run. "
            "Re-trigger the patient_first_rollback DAG (or clear it from its preflight task).")
    return dict(row)


def archived_counts(conn: sa.Connection, run_id: str) -> dict[str, int]:
    """Rows per source held by the archive of ``run_id``."""
    rows = conn.execute(sa.text(
        "SELECT 'patients', count(*) FROM patient_pipeline.archived_patients WHERE run_id = :r "
        "UNION ALL SELECT entity, count(*) FROM patient_pipeline.archived_patient_links WHERE run_id = :r "
        "GROUP BY entity"), {"r": run_id}).all()
    conn.commit()
    counts = {source: 0 for source in SOURCES}
    counts.update({source: int(n) for source, n in rows})
    return counts


# ---------------------------------------------------------------- sync and verify
def _sync_in_transaction(conn: sa.Connection, run_id: str, sources: list[str]) -> list[SourceSync]:
    out = []
    for source in sources:
        row = conn.execute(sql_files.statement("rollback", SOURCES[source][2]), {"run_id": run_id}).one()
        out.append(SourceSync(source, int(row.live_rows), int(row.written), int(row.pruned)))
    return out


def _verify_in_transaction(conn: sa.Connection, run_id: str, live: dict[str, bool]) -> ArchiveCheck:
    checks = []
    stored = None
    for source in SOURCES:
        if live[source]:
            r = conn.execute(sql_files.statement("rollback", SOURCES[source][3]), {"run_id": run_id}).one()
            checks.append(SourceCheck(source, True, int(r.live_rows), int(r.archived_rows), r.live_checksum,
                                      r.archived_checksum, int(r.missing), list(r.sample_ids)))
        else:
            if stored is None:
                stored = dict(conn.execute(sa.text(
                    "SELECT 'patients', count(*) FROM patient_pipeline.archived_patients WHERE run_id = :r "
                    "UNION ALL SELECT entity, count(*) FROM patient_pipeline.archived_patient_links "
                    "WHERE run_id = :r GROUP BY entity"), {"r": run_id}).all())
            checks.append(SourceCheck(source, False, 0, int(stored.get(source, 0)), "", "", 0))
    return ArchiveCheck(run_id, checks)


def _repeatable_read(conn: sa.Connection) -> None:
    """Start a REPEATABLE READ transaction: every statement after this sees one snapshot."""
    if conn.in_transaction():
        conn.commit()
    conn.exec_driver_sql("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ")


def sync(conn: sa.Connection, run_id: str, sources: list[str] | None = None) -> ArchiveResult:
    """Copy the live sources (all, or ``sources``) into the archive of ``run_id``; one transaction."""
    header(conn, run_id)
    live = live_sources(conn)
    wanted = [s for s in (sources or list(SOURCES)) if live[s]]
    _repeatable_read(conn)
    synced = _sync_in_transaction(conn, run_id, wanted)
    conn.commit()
    result = ArchiveResult(run_id, synced, [s for s in (sources or list(SOURCES)) if not live[s]])
    log.info("archive %s: %s", run_id, ", ".join(f"{s.source} {s.live_rows} rows ({s.written} written, "
                                                  f"{s.pruned} pruned)" for s in synced) or "no live source")
    return result


def verify(conn: sa.Connection, run_id: str) -> ArchiveCheck:
    """Counts and checksums of the archive vs the live tables (read-only, one snapshot)."""
    live = live_sources(conn)
    _repeatable_read(conn)
    check = _verify_in_transaction(conn, run_id, live)
    conn.commit()
    return check


def sync_and_verify(conn: sa.Connection, run_id: str) -> ArchiveCheck:
    """Sync every live source and verify the whole archive in ONE snapshot, then record it as verified.

    Called by each downgrade step right before it drops a source, so rows the application wrote after
    the archive step are archived too. Raises :class:`ArchiveIncomplete` when the check fails.
    """
    header(conn, run_id)
    live = live_sources(conn)
    _repeatable_read(conn)
    _sync_in_transaction(conn, run_id, [s for s in SOURCES if live[s]])
    check = _verify_in_transaction(conn, run_id, live)
    conn.commit()
    require_verified(check)
    mark_verified(conn, check)
    return check


def require_verified(check: ArchiveCheck) -> None:
    if not check.ok:
        raise ArchiveIncomplete(
            f"the archive of rollback run {check.run_id} does not match the live tables: "
            + "; ".join(check.failures())
            + ". Nothing was dropped. If the application wrote meanwhile, clear the archive task of this "
              "run to re-sync the archive (it converges), then continue.")


def mark_verified(conn: sa.Connection, check: ArchiveCheck) -> None:
    """Record a passed verification: from now on the downgrade steps may drop what the archive holds."""
    require_verified(check)
    conn.execute(sa.text(
        "UPDATE patient_pipeline.rollback_archives SET status = 'verified', verified_at = now() AT TIME ZONE 'utc', "
        "archived_counts = CAST(:counts AS jsonb) WHERE run_id = :r AND status IN ('planned', 'verified')"),
        {"r": check.run_id, "counts": json.dumps(check.archived_counts())})
    conn.commit()


def is_verified(conn: sa.Connection, run_id: str) -> bool:
    return header(conn, run_id)["status"] in ("verified", "restored")


# ---------------------------------------------------------------- export
def export(conn: sa.Connection, run_id: str, folder: Any) -> ExportResult:
    """Write the archive of ``run_id`` as NDJSON into ``folder``/archive_export.ndjson (mode 0600; PHI).

    One line per archived patient (``{"kind": "patient", "row": {...}}``) and per link
    (``{"kind": "link", "entity": ..., "entity_id": ..., "patient_id": ...}``). Written to a temporary
    file first and renamed, so a rerun replaces it whole. The folder is made owner-only (0700).

    ``folder`` may be on object storage (the runs root, ``include/core/storage.py``): the object is then written
    in one upload (an object appears whole when its upload completes, so no temporary name is needed) and
    access is the bucket's policy; the ledger records its full URI.
    """
    private_files.ensure_dir(folder)
    local = isinstance(folder, Path)
    final = folder / "archive_export.ndjson"
    tmp = folder / ".archive_export.ndjson.tmp" if local else final
    patients = links = 0
    with private_files.open_private(tmp, "w") as out:
        result = conn.execute(sa.text(
            "SELECT row_data FROM patient_pipeline.archived_patients WHERE run_id = :r ORDER BY id"
        ).execution_options(yield_per=5000), {"r": run_id})
        for (row,) in result:
            out.write(json.dumps({"kind": "patient", "row": row}, sort_keys=True) + "\n")
            patients += 1
        result = conn.execute(sa.text(
            "SELECT entity, entity_id, patient_id FROM patient_pipeline.archived_patient_links WHERE run_id = :r "
            "ORDER BY entity, entity_id").execution_options(yield_per=5000), {"r": run_id})
        for entity, entity_id, patient_id in result:
            out.write(json.dumps({"kind": "link", "entity": entity, "entity_id": entity_id,
                                  "patient_id": patient_id}) + "\n")
            links += 1
    conn.commit()
    if local:
        os.replace(tmp, final)
    conn.execute(sa.text("UPDATE patient_pipeline.rollback_archives SET export_file = :f WHERE run_id = :r"),
                 {"f": str(final), "r": run_id})
    conn.commit()
    log.info("archive %s exported: %d patients, %d links (%s, holds PHI)", run_id, patients, links,
             "file mode 0600" if local else "object storage")
    mode = f"{final.stat().st_mode & 0o777:04o}" if local else "bucket policy (object storage)"
    return ExportResult(str(final), patients, links, mode)
