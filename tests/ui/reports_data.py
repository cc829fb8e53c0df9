"""Run folders written by the project's own report writers (the same code the DAG tasks call)."""

from __future__ import annotations

import json

from include.core import failures, report_models, run_report
from include.imports import file_report
from include.migration_run import report as migration_report

MIGRATION_RUN = "manual__2026-12-01T20:00:00+00:00"
IMPORT_RUN = "scheduled__2026-12-01T02:00:00+00:00"
#: Invented PHI written into the quarantine export only: it must never reach a page or a counts-only file.
QUARANTINED_NAME, QUARANTINED_EMAIL = "Zelda Quarantina", "zelda.quarantina@mail.example"


def write_migration_report(run_id: str = MIGRATION_RUN, *, dry_run: bool = False) -> dict:
    params = {"dry_run": dry_run, "batch_size": 2500, "require_approval": True}
    plan = {"patients_to_create": 1234, "patients_matched": 5, "invites_to_link": 1500, "users_to_link": 700,
            "chats_to_link": 650, "quarantined_invite_ids": ["inv-q1", "inv-q2"],
            "review_queue_invite_ids": ["inv-r1"], "unresolved_account_invites": 0}
    results = {
        "plan_backfill": plan,
        "create_patients": {"phase": "create_patients", "rows": 1234, "batches": 1, "seconds": 0.8, "rows_per_s": 1542.5},
        "link_invites": {"phase": "link_invites", "rows": 1498, "batches": 1, "seconds": 0.5, "rows_per_s": 2996.0},
        "finalize_invites_not_null": {"revision": "20250530_finalize_invites", "applied": True, "seconds": 0.2},
        "approve_plan": {"chosen_options": ["Approve"], "responded_by_user": {"id": "admin", "name": "admin"},
                         "responded_at": "2026-12-01T20:01:00+00:00"},
        "approve_finalize": {"chosen_options": ["Approve"], "responded_by_user": {"id": "admin", "name": "admin"},
                             "responded_at": "2026-12-01T20:03:00+00:00"},
    }
    gates = [{"rule": "all_invites_linked", "passed": True, "violations": 0, "sample_ids": [], "detail": ""},
             {"rule": "patient_names_present", "passed": False, "violations": 3, "sample_ids": ["pat-9"],
              "detail": "fix them"}]
    sections = migration_report.build_report_sections(params, results, gates)
    folder = run_report.run_dir("patient_first_migration", run_id)
    run_report.write(folder, "patient_first_migration run", {"params": params, **sections})
    from include.gates import gx_gates

    docs = gx_gates.data_docs_dir(folder)  # where the migration's GX gate writes them
    docs.mkdir(parents=True)
    (docs / "index.html").write_text("<html><body>GX Data Docs of the run</body></html>")
    return sections


def write_import_night(run_id: str = IMPORT_RUN) -> None:
    result = report_models.FileResult(source_id="clinic-north-csv", file_id=7, status="done", rows_read=10, inserted=6,
                                 updated=2, unchanged=0, duplicates=0, quarantined=2, review_items=1,
                                 quarantined_by_reason={"invalid_email": 2}, notes_by_code={"phone_unparseable": 3},
                                 reconciled=True, gx_success=True)
    file_report.write_file_report(result, run_id)
    folder = file_report.run_dir(run_id)
    (folder / "imports" / "file_7_quarantine.csv").write_text(
        f"file_id,record_no,reason_code,name,email\n7,4,invalid_email,{QUARANTINED_NAME},{QUARANTINED_EMAIL}\n")
    night = report_models.NightSummary(run_id, {"clinic-north-csv": {
        "account_id": "acct-1", "files": 1, "files_by_status": {"done": 1}, "rows_read": 10, "inserted": 6,
        "updated": 2, "unchanged": 0, "duplicates": 0, "quarantined": 2, "review_items": 1,
        "quarantined_by_reason": {"invalid_email": 2}}}, True, [], [], str(folder / "night_summary.json"))
    (folder / "night_summary.json").write_text(json.dumps(night.as_xcom(), indent=2, sort_keys=True))
    (folder / "night_summary.md").write_text("# Nightly clinic import\n")


ROLLBACK_RUN = "manual__2026-12-01T21:00:00+00:00"


def write_rollback_report(run_id: str = ROLLBACK_RUN) -> dict:
    from include.rollback import report as rollback_report

    params = {"target_revision": "20250526_legacy_baseline", "dry_run": False, "require_approval": True}
    results = {
        "preflight": {"current_revision": "20250530_finalize_invites", "target_revision": "20250526_legacy_baseline",
                      "revisions_to_downgrade": ["20250530_finalize_invites", "20250527_create_patients"],
                      "would_archive": {"patients": 4, "invite": 3}, "would_drop": {
                          "20250527_create_patients": {"patients rows": 4}}},
        "approve_rollback": {"chosen_options": ["Reject"], "responded_by_user": {"id": "ops", "name": "ops"},
                             "responded_at": "2026-12-01T21:01:00+00:00"},
    }
    sections = rollback_report.build_report_sections(params, results, [])
    run_report.write(run_report.run_dir("patient_first_rollback", run_id), "patient_first_rollback run",
                     {"params": params, **sections})
    return sections


STEWARDSHIP_RUN = "manual__2026-12-01T22:00:00+00:00"
REFUSED_ROLLBACK_RUN = "manual__2026-12-01T23:00:00+00:00"


def write_stewardship_report(run_id: str = STEWARDSHIP_RUN) -> str:
    """A dismiss in dry run, written by the stewardship DAG's own report writer."""
    from include.stewardship.actions import Context
    from include.stewardship.report import write_report
    from include.stewardship.request import Request

    req = Request(action="dismiss", items=["import:12"], dry_run=True)
    results = [{"action": "dismiss", "status": "dry_run", "action_id": 41, "reason_code": "",
                "counts": {"items": 1}, "ids": {"items": ["import:12"]}}]
    return write_report(None, run_id, req, Context(actor="admin", origin="dag", dag_run_id=run_id, dry_run=True),
                        results)


def write_refused_rollback_report(run_id: str = REFUSED_ROLLBACK_RUN) -> dict:
    """A real rollback without its confirmation: validate_confirm failed and recorded why."""
    from include.rollback import report as rollback_report

    params = {"target_revision": "20250529_update_patients", "dry_run": False, "require_approval": True}
    sections = rollback_report.build_report_sections(params, {}, [])
    failures.add_to_sections(sections, [{"task_id": "preflight.validate_confirm", "reason_code": "confirmation_missing",
                                   "message": "a real rollback needs confirm = ROLLBACK; nothing was changed"}])
    run_report.write(run_report.run_dir("patient_first_rollback", run_id), "patient_first_rollback run",
                     {"params": params, **sections})
    return sections
