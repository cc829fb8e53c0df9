"""Requests: validation before any database work, decisions files (JSON and CSV) applied one action
each, and input files refused outside the runs root / landing locations or through a symlink."""

from __future__ import annotations

import json

import pytest

from include.core import settings
from include.core.errors import ConfirmationMissing
from include.stewardship.dispatch import execute
from include.stewardship.errors import BadRequest
from include.stewardship.input_files import parse_decisions, read_input_file
from include.stewardship.request import Request, validate
from tests.stewardship.conftest import ACCOUNT, ctx, rows
from tests.stewardship.conftest import execute as sql


@pytest.mark.parametrize(("req", "error"), [
    (Request(action="explode"), BadRequest),
    (Request(action="merge", survivor_id="a"), BadRequest),
    (Request(action="keep_separate", items=["import:1"], patients=["a", "b"]), BadRequest),
    (Request(action="dismiss", items=["not-a-key"]), BadRequest),
    (Request(action="export_worklist", night="06/01/2025"), BadRequest),
    (Request(action="undo_import", file_id=3, dry_run=False, confirm="yes"), ConfirmationMissing),
    (Request(action="merge", survivor_id="a", merged_id="b", dry_run=False), ConfirmationMissing),
])
def test_invalid_requests_fail_before_the_database(req, error):
    with pytest.raises(error):
        validate(req)


def test_valid_requests_pass_validation():
    validate(Request(action="merge", survivor_id="a", merged_id="b"))  # dry run needs no confirmation
    validate(Request(action="merge", survivor_id="a", merged_id="b", dry_run=False, confirm="MERGE"))
    validate(Request(action="keep_separate", items=["backfill:invite:i-1:nameless_invite_multiple_persons"],
                     dry_run=False))


def test_decisions_csv_and_json_parse_to_one_request_each():
    csv_text = "action,survivor_id,merged_id,item\nmerge,p-1,p-2,\ndismiss,,,import:7\n"
    got = parse_decisions(csv_text)
    assert [(r.action, r.survivor_id, r.merged_id, r.items) for r in got] == [
        ("merge", "p-1", "p-2", []), ("dismiss", "", "", ["import:7"])]
    with pytest.raises(BadRequest, match="decision 2"):
        parse_decisions(json.dumps([{"action": "dismiss", "items": ["import:1"]}, {"action": "undo_import"}]))


def test_input_files_outside_the_allowed_roots_or_symlinked_are_refused(tmp_path, monkeypatch):
    monkeypatch.setattr(settings, "RUNS_DIR", tmp_path / "runs")
    (tmp_path / "runs").mkdir()
    inside = tmp_path / "runs" / "d.json"
    inside.write_text("[]")
    assert read_input_file(str(inside)) == "[]"
    outside = tmp_path / "elsewhere.json"
    outside.write_text("[]")
    with pytest.raises(BadRequest, match="not under"):
        read_input_file(str(outside))
    link = tmp_path / "runs" / "link.json"
    link.symlink_to(outside)
    with pytest.raises(BadRequest, match="symlinks"):
        read_input_file(str(link))


def test_a_decisions_file_applies_each_decision_as_its_own_recorded_action(steward_db):
    sql(steward_db, "INSERT INTO patients (id, account_id, email, first_name, last_name, status) VALUES "
                    f"('p-1', '{ACCOUNT}', 'gil@example.com', 'Gil', 'Ode', 'pending'), "
                    f"('p-2', '{ACCOUNT}', NULL, 'Gil', 'Ode', 'pending'), "
                    f"('p-3', 'acct-other', NULL, 'Gil', 'Ode', 'pending')")
    path = settings.RUNS_DIR / "decisions.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps([{"action": "merge", "survivor_id": "p-1", "merged_id": "p-2"},
                                {"action": "merge", "survivor_id": "p-1", "merged_id": "p-3"},
                                {"action": "keep_separate", "patients": ["p-1", "p-3"]}]))
    results = execute(steward_db, Request(action="decisions", dry_run=False, confirm="APPLY", input_file=str(path)),
                      ctx(), "run-decisions")
    assert [(r.action, r.status, r.reason_code) for r in results] == [
        ("merge", "applied", None), ("merge", "refused", "different_accounts"), ("keep_separate", "applied", None)]
    assert rows(steward_db, "SELECT id, status FROM patients ORDER BY id") == [
        ("p-1", "pending"), ("p-2", "archived"), ("p-3", "pending")]
    assert rows(steward_db, "SELECT action, status FROM patient_pipeline.steward_action ORDER BY action_id") == [
        ("merge", "applied"), ("merge", "refused"), ("keep_separate", "applied")]
