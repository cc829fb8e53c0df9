"""The task ids of ``patient_first_migration`` that its steps and its report refer to (the DAG file wires
the same ids): the schema steps, the backfill phases, the tasks whose XComs make the report, the gates."""

from __future__ import annotations

from include.core import pipeline_dags, settings
from include.gates import sql_gates

DAG_ID = pipeline_dags.MIGRATION.dag_id

UPGRADE_TASKS = {
    "upgrade_create_patients": settings.REV_CREATE_PATIENTS,
    "upgrade_update_invites": settings.REV_UPDATE_INVITES,
    "upgrade_update_patients": settings.REV_UPDATE_PATIENTS,
}


BACKFILL_PHASES = ("create_patients", "link_invites", "link_users", "link_chat_sessions")

REPORT_TASKS = {
    "preflight": "preflight.check_app_db",
    "legacy_checksums": "preflight.record_legacy_checksums",
    **{tid: f"schema.{tid}" for tid in UPGRADE_TASKS},
    "restore_archived_patients": "schema.restore_archived_patients",
    "plan_backfill": "backfill.plan_backfill",
    **{p: f"backfill.{p}" for p in BACKFILL_PHASES},
    "catch_up": "backfill.catch_up",
    "finalize_invites_not_null": "finalize.finalize_invites_not_null",
    "auto_rollback": "auto_rollback_on_failure",
    "approve_plan": "approval.approve_plan",
    "approve_finalize": "finalize.approve_finalize",
    "identity_matcher": "identity_match_report",
}


GATE_TASKS = [f"gates.gate_{r}" for r in sql_gates.SQL_RULES] + [
    "gates.gate_legacy_checksums_unchanged", "gates.gate_counts_reconcile", "gates.gate_great_expectations",
    "finalize.post_check_finalized",
]
