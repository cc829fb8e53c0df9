"""After the downgrades: the schema has the target revision's shape, the legacy rows are untouched,
and the archive holds what the rollback found.

The expected shape per revision is written down here (what each revision adds, by name: columns,
constraints, indexes), so a target keeps everything of its revision and earlier ones and nothing of
the later ones. For the baseline the legacy contract (docs/contracts/data-model.md §1) must match exactly.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field

import sqlalchemy as sa

from include.core import alembic_driver, catalog, legacy_contract, run_records, settings
from include.rollback import archive

#: What each revision adds: (table, column) pairs, constraint names, index names.
ADDS: dict[str, dict[str, tuple]] = {
    settings.REV_CREATE_PATIENTS: {
        "tables": ("patients",),
        "columns": tuple(("patients", c) for c in (
            "id", "account_id", "clinician_id", "external_id", "email", "first_name", "last_name", "phone",
            "date_of_birth", "status", "notes", "created_at", "updated_at")),
        "constraints": ("patients_pkey", "patients_account_id_fkey", "patients_clinician_id_fkey",
                        "ck_patients_status", "ck_patients_first_name_not_blank", "ck_patients_last_name_not_blank"),
        "indexes": ("patients_pkey", "ux_patients_account_external_id", "ux_patients_identity_key",
                    "ix_patients_clinician_id"),
    },
    settings.REV_UPDATE_INVITES: {
        "tables": (),
        "columns": (("invites", "patient_id"), ("chat_sessions", "patient_id")),
        "constraints": ("invites_patient_id_fkey", "chat_sessions_patient_id_fkey"),
        "indexes": ("ix_invites_patient_id", "ix_chat_sessions_patient_id"),
    },
    settings.REV_UPDATE_PATIENTS: {
        "tables": (),
        "columns": (("patients", "user_id"),),
        "constraints": ("patients_user_id_fkey", "uq_patients_user_id"),
        "indexes": ("uq_patients_user_id",),
    },
    settings.REV_FINALIZE_INVITES: {"tables": (), "columns": (), "constraints": (), "indexes": ()},
}
TEMPORARY_CONSTRAINTS = ("ck_invites_patient_id_not_null",)
SHAPE_TABLES = (*settings.LEGACY_TABLES, "patients")


@dataclass(frozen=True)
class Verdict:
    """One verification: passed, and the differences (ids, names and counts only)."""

    rule: str
    passed: bool
    differences: list[str] = field(default_factory=list)
    detail: dict[str, object] = field(default_factory=dict)

    def as_dict(self) -> dict[str, object]:
        return asdict(self)


def schema_differences(conn: sa.Connection, target: str) -> list[str]:
    """How the live schema differs from ``target``'s expected shape (empty: it matches)."""
    out: list[str] = []
    revision = alembic_driver.current_revision(conn)
    if revision != target:
        out.append(f"alembic revision is {revision}, expected {target}")
    snap = catalog.snapshot(conn, list(SHAPE_TABLES))
    conn.commit()
    tables = set(snap.tables)
    columns = {(t, c): not_null for t, c, _, not_null, _ in snap.columns}
    constraints = {name: validated for _, name, _, _, validated in snap.constraints}
    indexes = {name: valid for _, name, _, valid in snap.indexes}
    target_index = alembic_driver.revision_index(target)
    for rev, adds in ADDS.items():
        expected = alembic_driver.revision_index(rev) <= target_index
        for kind, present, items in (("table", tables, adds["tables"]), ("column", columns, adds["columns"]),
                                     ("constraint", constraints, adds["constraints"]),
                                     ("index", indexes, adds["indexes"])):
            for item in items:
                name = ".".join(item) if isinstance(item, tuple) else item
                if expected and item not in present:
                    out.append(f"missing {kind} {name} (added by {rev})")
                if not expected and item in present:
                    out.append(f"unexpected {kind} {name} (added by {rev}, which the rollback removes)")
    if target_index < alembic_driver.revision_index(settings.REV_UPDATE_INVITES):
        # Whatever its name: nothing on a legacy table may still refer to patients.
        out += [f"leftover constraint {name} on {t} refers to patients" for t, name, _, definition, _ in snap.constraints
                if t in settings.LEGACY_TABLES and ("patient_id" in definition or "patients(" in definition)]
        out += [f"leftover index {name} on {t} refers to patient_id" for t, name, definition, _ in snap.indexes
                if t in settings.LEGACY_TABLES and "patient_id" in definition]
    out += [f"constraint {n} is NOT VALID" for n, ok in constraints.items() if not ok]
    out += [f"index {n} is INVALID" for n, ok in indexes.items() if not ok]
    out += [f"leftover constraint {n}" for n in TEMPORARY_CONSTRAINTS if n in constraints]
    if ("invites", "patient_id") in columns:
        finalized = target_index >= alembic_driver.revision_index(settings.REV_FINALIZE_INVITES)
        if columns[("invites", "patient_id")] != finalized:
            out.append(f"invites.patient_id is {'NOT NULL' if columns[('invites', 'patient_id')] else 'nullable'}, "
                       f"expected {'NOT NULL' if finalized else 'nullable'}")
    out += legacy_contract.differences(conn)
    if target == settings.REV_BASELINE and set(snap.tables) != set(settings.LEGACY_TABLES):
        out.append(f"tables {sorted(snap.tables)}, expected exactly the legacy tables")
    conn.commit()
    return out


def verify_schema(conn: sa.Connection, target: str) -> Verdict:
    found = schema_differences(conn, target)
    return Verdict("schema_is_target_shape", not found, found, {"target_revision": target})


def verify_legacy_checksums(conn: sa.Connection, run_id: str, phase: str) -> Verdict:
    """The legacy tables' original columns are what they were before the migration (the earliest
    baseline snapshot) and what they were when this rollback started.

    This rollback must change no legacy row: a difference from its own preflight snapshot fails.
    A difference from the pre-migration snapshot fails too, unless this rollback's preflight already
    saw it (the application wrote legacy rows while the database was migrated): then it is reported,
    not failed, because the rollback did not cause it and must not undo the application's writes.
    """
    own = run_records.stored_checksums(conn, run_id, phase)
    if not own:
        return Verdict("legacy_checksums_unchanged", False,
                       [f"no '{phase}' checksums recorded for run {run_id}: its preflight did not record them"])
    rollback_changes = run_records.verify_checksums_unchanged(conn, own)
    original = run_records.original_checksums(conn)
    detail: dict[str, object] = {"compared_with_run": original[0] if original else None}
    if original is None:
        detail["note"] = "no pre-migration snapshot at the baseline revision exists; compared with this run's preflight"
        return Verdict("legacy_checksums_unchanged", not rollback_changes, rollback_changes, detail)
    since_migration = run_records.verify_checksums_unchanged(conn, original[1])
    before_rollback = legacy_checksum_compare(original[1], own)
    by_application = [d for d in since_migration if d.split(":")[0] in before_rollback]
    failed = rollback_changes + [d for d in since_migration if d not in by_application]
    if by_application:
        detail["changed_by_application_before_this_rollback"] = by_application
    return Verdict("legacy_checksums_unchanged", not failed, failed, detail)


def legacy_checksum_compare(a: dict, b: dict) -> set[str]:
    """Tables whose count/checksum differ between two stored snapshots."""
    return {t for t in a if t not in b or a[t] != b[t]}


def verify_archive_counts(conn: sa.Connection, run_id: str) -> Verdict:
    """The archive holds at least what the rollback counted when it started, and exactly what it
    verified last (more only when the application wrote while the rollback ran: those are archived too)."""
    head = archive.header(conn, run_id)
    preflight = {k: int(v) for k, v in dict(head["preflight_counts"]).items()}
    verified = {k: int(v) for k, v in dict(head["archived_counts"]).items()}
    now = archive.archived_counts(conn, run_id)
    out: list[str] = []
    if head["status"] not in ("verified", "restored"):
        out.append(f"archive status is {head['status']}, expected verified")
    for source, n in now.items():
        if n < preflight.get(source, 0):
            out.append(f"{source}: archive holds {n}, fewer than the {preflight[source]} counted before the rollback")
        if verified and n != verified.get(source, 0):
            out.append(f"{source}: archive holds {n}, but {verified.get(source, 0)} were verified")
    return Verdict("archive_counts_match", not out, out,
                   {"before_rollback": preflight, "archived": now, "verified": verified})
