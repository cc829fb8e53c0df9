"""The rollback's targets and downgrade tasks (constants only: the DAG file imports this at parse time)."""

from __future__ import annotations

from include.core import settings

#: Rollback targets (the revision the database ends at), least destructive first, with readable labels.
TARGETS: dict[str, str] = {
    settings.REV_UPDATE_PATIENTS: "20250529_update_patients: undo finalize only (invites.patient_id nullable again)",
    settings.REV_UPDATE_INVITES: "20250528_update_invites: also drop patients.user_id (links archived)",
    settings.REV_CREATE_PATIENTS: "20250527_create_patients: also drop the invites/chat_sessions patient links "
                                  "(archived)",
    settings.REV_BASELINE: "20250526_legacy_baseline: full rollback, drop the patients table (archived first)",
}

#: task id -> the revision that task removes, in the order the tasks run (newest first).
DOWNGRADE_TASKS: dict[str, str] = {
    "downgrade_finalize_invites": settings.REV_FINALIZE_INVITES,
    "downgrade_update_patients": settings.REV_UPDATE_PATIENTS,
    "downgrade_update_invites": settings.REV_UPDATE_INVITES,
    "downgrade_create_patients": settings.REV_CREATE_PATIENTS,
}
