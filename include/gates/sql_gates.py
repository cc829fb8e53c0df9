"""The SQL gates of the migration (include/sql/gates/<rule>.sql), the checksum gate and the counts gate."""

from __future__ import annotations

import sqlalchemy as sa

from include import migration_run, settings
from include.gates.results import GateResult

#: rule -> what to do when it fails (shown in the task log and the run report)
SQL_RULES: dict[str, str] = {
    "all_invites_linked": "Invites without a patient: see the quarantine (missing_name) in the run report, "
                          "fix the source rows, then re-trigger the migration.",
    "patient_users_linked": "Role-patient users without a patient: re-run the backfill (catch_up).",
    "chat_sessions_linked": "Chat sessions of patient users not linked to that user's patient: re-run the backfill.",
    "one_patient_per_identity": "Duplicate patients for one identity key: investigate before finalizing.",
    "patient_names_present": "Patients without a real first/last name: fix them; never use placeholders.",
    "patient_account_matches_invites": "An invite links to a patient of another account: investigate the links.",
    "user_id_unique": "One user linked to several patients: investigate the links.",
}


def run_sql_gate(conn: sa.Connection, rule: str) -> GateResult:
    sql = (settings.SQL_DIR / "gates" / f"{rule}.sql").read_text()
    violations, sample = conn.execute(sa.text(sql)).one()
    conn.commit()
    violations = int(violations or 0)
    return GateResult(rule, violations == 0, violations, list(sample or []),
                      "" if violations == 0 else SQL_RULES[rule])


def legacy_checksums_gate(conn: sa.Connection, run_id: str) -> GateResult:
    """Legacy tables unchanged since this run's preflight, and since the original pre-migration snapshot."""
    expected = migration_run.stored_checksums(conn, run_id, "before")
    problems = migration_run.verify_checksums_unchanged(conn, expected) if expected else ["no preflight checksums"]
    original = migration_run.original_checksums(conn)
    if original is not None and original[0] != run_id:
        problems += [f"vs original ({original[0]}): {p}" for p in migration_run.verify_checksums_unchanged(conn, original[1])]
    return GateResult("legacy_checksums_unchanged", not problems, len(problems), [],
                      "; ".join(problems) + (" — legacy columns must never change; stop and investigate." if problems else ""))


def counts_reconcile_gate(conn: sa.Connection, quarantined_invite_ids: list[str]) -> GateResult:
    """invites in = invites linked + invites quarantined; every patient created or matched is accounted for."""
    total, linked = conn.execute(sa.text(
        "SELECT count(*), count(patient_id) FROM invites")).one()
    conn.commit()
    unlinked = int(total) - int(linked)
    quarantined = len(set(quarantined_invite_ids))
    ok = unlinked == quarantined
    detail = (f"invites {total} = linked {linked} + quarantined {quarantined}" if ok else
              f"invites {total} != linked {linked} + quarantined {quarantined}: {unlinked - quarantined} "
              "invites are unlinked without a recorded reason; re-run the backfill")
    return GateResult("counts_reconcile", ok, 0 if ok else abs(unlinked - quarantined), [], detail)
