"""The SQL gates of the migration (include/sql/gates/<rule>.sql), the checksum gate and the counts gate."""

from __future__ import annotations

import sqlalchemy as sa

from include.core import run_records, sql_files
from include.gates.results import GateResult

#: rule -> what to do when it fails (shown in the task log and the run report)
SQL_RULES: dict[str, str] = {
    "all_invites_linked": "Invites without a patient: see the quarantine (missing_name) in the run report, "
                          "fix the source rows, then re-trigger the migration.",
    "patient_users_linked": "Role-patient users without a patient: re-run the backfill (catch_up).",
    "chat_sessions_linked": "Chat sessions of patient users not linked to that user's patient: re-run the backfill.",
    "one_patient_per_identity": "Duplicate patients for one identity key (key form): patients an earlier version "
                                "split are listed in the review queue (patients_share_identity_key); "
                                "investigate and merge them before finalizing.",
    "patient_names_present": "Patients without a real first/last name: fix them; never use placeholders.",
    "patient_account_matches_invites": "An invite links to a patient of another account: investigate the links.",
    "user_id_unique": "One user linked to several patients: investigate the links.",
}


def run_sql_gate(conn: sa.Connection, rule: str) -> GateResult:
    violations, sample = sql_files.run(conn, "gates", rule).one()
    conn.commit()
    violations = int(violations or 0)
    return GateResult(rule, violations == 0, violations, list(sample or []),
                      "" if violations == 0 else SQL_RULES[rule])


def legacy_checksums_gate(conn: sa.Connection, run_id: str) -> GateResult:
    """The run changed no legacy column (docs/contracts/data-model.md §4 rule 9), even with the application writing.

    Compared with this run's own preflight (per-row hashes of invites and chat_sessions, table
    checksums of the rest; see include.core.run_records.audit_legacy_changes). Rows the application wrote since
    preflight are reported, not failed; any other change fails the gate with the row ids.
    """
    if not run_records.stored_checksums(conn, run_id, "before"):
        return GateResult("legacy_checksums_unchanged", False, 1, [],
                          "no preflight checksums for this run: re-run the DAG from preflight")
    audit = run_records.audit_legacy_changes(conn, run_id)
    ids = [i for found in audit.pipeline_changed.values() for i in found]
    violations = len(ids) + len(audit.unexplained_tables)
    app = ", ".join(f"{t} {n}" for t, n in audit.application_changed.items()) or "none"
    detail = f"rows written by the application since preflight (not failures): {app}"
    if violations:
        detail = (f"legacy rows changed without the application touching them: "
                  f"{', '.join(f'{t} {len(v)}' for t, v in audit.pipeline_changed.items())}"
                  f"{'; tables changed silently: ' + ', '.join(audit.unexplained_tables) if audit.unexplained_tables else ''}"
                  f" — legacy columns must never change; stop and investigate. ({detail})")
    return GateResult("legacy_checksums_unchanged", violations == 0, violations, ids[:50], detail)


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
