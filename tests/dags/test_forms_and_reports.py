"""What a new user meets in the UI: forms that submit with their defaults, names that read like the runbook,
failure reasons a report can show, and numbers with their context (issue 28). No database needed."""

from __future__ import annotations

import pytest

from include.core import approval_texts, failures, settings
from include.migration_run import report as migration_report
from include.migration_run import steps as migration_steps
from include.migration_run.tasks import UPGRADE_TASKS
from tests.dags.test_dag_integrity import dagbag  # noqa: F401 (fixture)

#: Form fields whose help says "empty = …": the form must accept them empty (type includes "null").
OPTIONAL_FIELDS = {
    "clinic_patient_import": ["source_ids", "landing_root"],
    "patient_stewardship": ["items", "survivor_id", "merged_id", "patients", "merge_action_id", "file_id",
                            "source_id", "night", "input_file", "target_action_id", "confirm", "actor"],
    "patient_first_rollback": ["confirm"],
}


def test_every_dag_has_a_display_name_and_a_one_line_description(dagbag):  # noqa: F811
    for dag in dagbag.dags.values():
        assert dag.dag_display_name and dag.dag_display_name != dag.dag_id, dag.dag_id
        assert dag.description and "\n" not in dag.description and len(dag.description) < 200, dag.dag_id


def test_optional_form_fields_accept_empty_so_each_form_submits_with_its_defaults(dagbag):  # noqa: F811
    for dag_id, names in OPTIONAL_FIELDS.items():
        params = dagbag.dags[dag_id].params
        for name in names:
            schema = params.get_param(name).schema
            assert isinstance(schema["type"], list) and "null" in schema["type"], (dag_id, name)
        params.validate()  # the defaults as they are: valid, nothing to fill in
    for dag in dagbag.dags.values():
        dag.params.validate()


def test_a_stewardship_dismiss_needs_only_its_item_keys_and_a_dash_means_not_set():
    from include.stewardship.request import Request, validate

    params = {name: None for name in OPTIONAL_FIELDS["patient_stewardship"]}
    req = Request.from_params({**params, "action": "dismiss", "items": ["import:12", "-"], "night": "-",
                               "source_id": " ", "file_id": "-", "dry_run": True})
    validate(req)
    assert req.items == ["import:12"] and req.night == "" and req.source_id == "" and req.file_id is None


def test_a_failure_records_a_reason_code_and_the_message():
    from airflow.sdk.exceptions import AirflowFailException

    class ConfirmationMissing(ValueError):
        pass

    try:
        try:
            raise ConfirmationMissing("a real rollback needs confirm = ROLLBACK")
        except ConfirmationMissing as exc:
            raise AirflowFailException(str(exc)) from exc
    except AirflowFailException as exc:
        record = failures.describe(exc, "preflight.validate_confirm")
    assert record == {"task_id": "preflight.validate_confirm", "reason_code": "confirmation_missing",
                      "message": "a real rollback needs confirm = ROLLBACK"}
    assert len(failures.describe(RuntimeError("x" * 5000), "t")["message"]) == failures.MAX_MESSAGE
    assert failures.status_with_reason("failed", [record]) == \
        "failed: confirmation_missing in preflight.validate_confirm"
    assert failures.status_with_reason("dry run", [record]) == "dry run"


def test_a_task_body_that_raises_still_raises_after_recording_its_failure():
    @failures.recording("step")
    def body():
        raise KeyError("file 7")

    with pytest.raises(KeyError):
        body()


def test_the_plan_approval_mentions_the_restore_of_archived_patients():
    plan = {"patients_to_create": 44_333, "invites_to_link": 50_000, "archived_patients_to_restore": 2_349}
    body = approval_texts.migration_plan_body(plan, {"all_invites_linked": ""}, dag_id="d", run_id="r", base_url="")
    assert "archived patients to restore (before the backfill) | 2,349 |" in body
    assert "restore_archived_patients" in body and "fewer patients" in body
    nothing = approval_texts.migration_plan_body({**plan, "archived_patients_to_restore": 0}, {}, dag_id="d",
                                            run_id="r", base_url="")
    assert "schema.restore_archived_patients" not in nothing


def test_finalize_is_not_asked_for_when_it_is_already_applied():
    real = {"dry_run": False, "require_approval": True}
    prepared = migration_steps.prepare_finalize_approval("r", real, [], {}, already_applied=True)
    assert prepared["required"] is False and "already applied" in prepared["reason"]


def test_a_dry_run_on_an_already_migrated_database_says_so():
    results = {"preflight": {"revision": settings.REV_FINALIZE_INVITES},
               **{t: {"revision": r, "applied": False, "would_apply": False}
                  for t, r in UPGRADE_TASKS.items()},
               "plan_backfill": {"patients_to_create": 0, "invites_to_link": 0}}
    sections = migration_report.build_report_sections({"dry_run": True}, results, [])
    assert any("already migrated" in n for n in sections["notes"])


def test_users_to_link_beside_a_link_users_phase_with_zero_rows_is_explained():
    results = {"plan_backfill": {"patients_to_create": 10, "users_to_link": 7},
               "link_users": {"rows": 0, "batches": 0, "seconds": 0.1, "rows_per_s": 0},
               "restore_archived_patients": {"restored_patient_ids": ["p1", "p2"]}}
    sections = migration_report.build_report_sections({"dry_run": False, "require_approval": False}, results, [])
    assert any("link_users" in n and "create_patients" in n for n in sections["notes"])
    assert any("Restored 2 archived patients" in n for n in sections["notes"])
    assert sections["summary"]["archived_patients_restored"] == 2
    phase = next(p for p in sections["backfill_phases"] if p["phase"] == "link_users")
    assert "create_patients" in phase["note"]
