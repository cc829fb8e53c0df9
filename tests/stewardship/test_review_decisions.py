"""Review decisions on hand-written patients: merge (exact rows after), refusals, unmerge (every
application table byte-identical to before the merge), keep_separate and dismiss (items resolved,
undo reopens them)."""

from __future__ import annotations

import pytest
import sqlalchemy as sa

from include.stewardship import actions, review
from include.stewardship.dispatch import execute
from include.stewardship.request import Request
from tests.stewardship.conftest import ACCOUNT, checksums, ctx, rows
from tests.stewardship.conftest import execute as sql

PATIENT_COLS = ("id, account_id, clinician_id, external_id, email, first_name, last_name, phone, "
                "date_of_birth, status, notes, user_id, updated_at")


@pytest.fixture
def pair(steward_db: sa.Engine) -> sa.Engine:
    """Survivor S (no e-mail, no phone, no user) and merged M (e-mail, phone, DOB, user, invite, chat),
    plus a bystander B with its own invite."""
    sql(steward_db,
        "INSERT INTO users (id, name, email, role, account_id) VALUES "
        "('clin-1', 'Dr. A', 'clin-1@clinic.test', 'clinician', 'acct-clinic-north'), "
        "('u-m', 'Mia Merge', 'mia@mail.test', 'patient', 'acct-clinic-north'), "
        "('u-x', 'Xavier Other', 'x@mail.test', 'patient', 'acct-clinic-north')",
        f"INSERT INTO patients (id, account_id, clinician_id, external_id, email, first_name, last_name, phone, "
        f"date_of_birth, status, notes, user_id, created_at, updated_at) VALUES "
        f"('p-s', '{ACCOUNT}', 'clin-1', 'MRN-1', NULL, 'Mia', 'Merge', NULL, '1980-01-02', 'pending', NULL, NULL, "
        f" '2025-01-01 00:00:00', '2025-01-01 00:00:00.5'), "
        f"('p-m', '{ACCOUNT}', NULL, 'MRN-2', 'mia@mail.test', 'Mia', 'Merge', '+15550001111', '1980-02-01', "
        f" 'active', 'note', 'u-m', '2025-01-02 00:00:00', '2025-01-02 00:00:00.25'), "
        f"('p-b', '{ACCOUNT}', NULL, NULL, 'b@mail.test', 'Bo', 'Bystander', NULL, NULL, 'pending', NULL, NULL, "
        f" '2025-01-03 00:00:00', '2025-01-03 00:00:00'), "
        f"('p-x', 'acct-other', NULL, NULL, 'x@mail.test', 'Xavier', 'Other', NULL, NULL, 'active', NULL, 'u-x', "
        f" '2025-01-03 00:00:00', '2025-01-03 00:00:00')",
        "INSERT INTO invites (id, email, first_name, last_name, invite_token, clinician_id, status, patient_id) VALUES "
        "('inv-m', 'mia@mail.test', 'Mia', 'Merge', 't1', 'clin-1', 'accepted', 'p-m'), "
        "('inv-b', 'b@mail.test', 'Bo', 'Bystander', 't2', 'clin-1', 'pending', 'p-b')",
        "INSERT INTO chat_sessions (id, user_id, patient_id) VALUES ('cs-m', 'u-m', 'p-m')",
        "INSERT INTO chat_messages (id, session_id, role, content) VALUES ('cm-1', 'cs-m', 'user', 'hello')")
    return steward_db


def merge_req(dry_run: bool = False, **kw: object) -> Request:
    return Request(action="merge", dry_run=dry_run, confirm="" if dry_run else "MERGE",
                   survivor_id="p-s", merged_id="p-m", **kw)  # type: ignore[arg-type]


def test_merge_moves_links_fills_empty_fields_and_archives_the_merged_patient(pair):
    (res,) = execute(pair, merge_req(), ctx(), "run-1")
    assert res.status == "applied" and res.counts == {
        "invites_moved": 1, "chat_sessions_moved": 1, "user_link_moved": 1, "fields_filled": 3,
        "identifiers_moved": 0, "review_rows_resolved": 0}
    got = rows(pair, f"SELECT {PATIENT_COLS} FROM patients WHERE id IN ('p-s', 'p-m') ORDER BY id")
    s = [r for r in got if r[0] == "p-s"][0]
    m = [r for r in got if r[0] == "p-m"][0]
    # survivor: external id and DOB kept (never overwritten); e-mail, phone, notes, user filled
    assert s[:12] == ("p-s", ACCOUNT, "clin-1", "MRN-1", "mia@mail.test", "Mia", "Merge", "+15550001111",
                      s[8], "pending", "note", "u-m")
    assert str(s[8]) == "1980-01-02"
    # merged: archived, its e-mail and user taken off (they moved), its own external id kept
    assert m[:12] == ("p-m", ACCOUNT, None, "MRN-2", None, "Mia", "Merge", "+15550001111", m[8], "archived",
                      "note", None)
    assert rows(pair, "SELECT id, patient_id FROM invites ORDER BY id") == [("inv-b", "p-b"), ("inv-m", "p-s")]
    assert rows(pair, "SELECT id, patient_id FROM chat_sessions") == [("cs-m", "p-s")]
    assert rows(pair, "SELECT patient_id, survivor_id FROM patient_pipeline.patient_merged_into") == [("p-m", "p-s")]
    assert rows(pair, "SELECT action, actor, origin, status, params->>'survivor_id' FROM "
                      "patient_pipeline.steward_action") == [("merge", "steward-test", "test", "applied", "p-s")]


def test_merge_then_unmerge_leaves_every_application_table_byte_identical(pair):
    before = checksums(pair)
    (merged,) = execute(pair, merge_req(), ctx(), "run-1")
    assert checksums(pair) != before
    (undone,) = execute(pair, Request(action="unmerge", dry_run=False, confirm="UNMERGE",
                                      merge_action_id=merged.action_id), ctx(), "run-2")
    assert undone.status == "applied" and undone.counts["invites_moved_back"] == 1
    assert checksums(pair) == before
    assert rows(pair, "SELECT count(*) FROM patient_pipeline.patient_merged_into") == [(0,)]
    assert rows(pair, "SELECT action_id, status, undone_by FROM patient_pipeline.steward_action ORDER BY 1") == [
        (merged.action_id, "undone", undone.action_id), (undone.action_id, "applied", None)]


def test_a_dry_run_merge_reports_the_exact_counts_and_changes_nothing(pair):
    before = checksums(pair)
    (res,) = execute(pair, merge_req(dry_run=True), ctx(dry_run=True), "run-1")
    assert res.status == "dry_run" and res.counts["invites_moved"] == 1 and res.counts["fields_filled"] == 3
    assert checksums(pair) == before
    assert rows(pair, "SELECT action, status, dry_run FROM patient_pipeline.steward_action") == [
        ("merge", "dry_run", True)]
    assert rows(pair, "SELECT count(*) FROM patient_pipeline.steward_merge") == [(0,)]


@pytest.mark.parametrize(("survivor", "merged", "reason"), [
    ("p-s", "p-x", "different_accounts"),
    ("p-s", "p-s", "same_patient"),
    ("p-s", "nope", "unknown_patient"),
])
def test_merge_is_refused_with_a_reason_and_nothing_changes(pair, survivor, merged, reason):
    before = checksums(pair)
    (res,) = execute(pair, Request(action="merge", dry_run=False, confirm="MERGE", survivor_id=survivor,
                                   merged_id=merged), ctx(), "run-1")
    assert (res.status, res.reason_code) == ("refused", reason)
    assert checksums(pair) == before
    assert rows(pair, "SELECT status, reason_code FROM patient_pipeline.steward_action") == [("refused", reason)]


def test_merge_of_patients_linked_to_different_users_is_refused(pair):
    sql(pair, "INSERT INTO users (id, name, email, role) VALUES ('u-s', 'Mia M', 'mia2@mail.test', 'patient')",
        "UPDATE patients SET user_id = 'u-s' WHERE id = 'p-s'")
    before = checksums(pair)
    (res,) = execute(pair, merge_req(), ctx(), "run-1")
    assert (res.status, res.reason_code) == ("refused", "different_users")
    assert checksums(pair) == before


def test_unmerge_refuses_when_a_patient_changed_after_the_merge(pair):
    (merged,) = execute(pair, merge_req(), ctx(), "run-1")
    sql(pair, "UPDATE patients SET phone = '+15550002222', updated_at = now() WHERE id = 'p-s'")
    (res,) = execute(pair, Request(action="unmerge", dry_run=False, confirm="UNMERGE",
                                   merge_action_id=merged.action_id), ctx(), "run-2")
    assert (res.status, res.reason_code) == ("refused", "changed_since_merge")


def _review_item(engine: sa.Engine, file_kind: str = "name_dob_match", patient: str = "p-b") -> str:
    sql(engine, "INSERT INTO patient_pipeline.import_file (source_id, account_id, file_name, location, sha256, "
                f"size_bytes, status) VALUES ('clinic-north-csv', '{ACCOUNT}', 'f.csv', '/x', md5(random()::text) || md5(random()::text), 1, 'done')",
        "INSERT INTO patient_pipeline.import_review (file_id, record_no, kind, patient_id, candidate_patient_id) "
        f"SELECT max(file_id), 3, '{file_kind}', '{patient}', 'p-s' FROM patient_pipeline.import_file")
    return "import:" + str(rows(engine, "SELECT max(review_id) FROM patient_pipeline.import_review")[0][0])


def test_merge_resolves_the_open_review_item_of_the_pair_and_unmerge_reopens_it(pair):
    item = _review_item(pair, patient="p-m")
    other = _review_item(pair, patient="p-b")
    (merged,) = execute(pair, merge_req(), ctx(), "run-1")
    assert merged.counts["review_rows_resolved"] == 1
    assert rows(pair, "SELECT resolution, resolved_by FROM patient_pipeline.import_review ORDER BY review_id") == [
        ("merged", merged.action_id), (None, None)]
    execute(pair, Request(action="undo_action", dry_run=False, confirm="UNDO", target_action_id=merged.action_id),
            ctx(), "run-2")
    assert rows(pair, "SELECT resolved_at, resolution FROM patient_pipeline.import_review") == [(None, None)] * 2
    with pair.connect() as conn:
        assert sorted(r["item"] for r in review.review_items(conn)) == sorted([item, other])


def test_keep_separate_resolves_the_item_remembers_the_pair_and_undo_forgets_it(pair):
    item = _review_item(pair)
    (kept,) = execute(pair, Request(action="keep_separate", dry_run=False, items=[item]), ctx(), "run-1")
    assert kept.status == "applied" and kept.counts == {"items_resolved": 1, "review_rows_resolved": 1}
    assert rows(pair, "SELECT resolution FROM patient_pipeline.import_review") == [("kept_separate",)]
    with pair.connect() as conn:
        keys = conn.execute(sa.text("SELECT patient_pipeline.steward_patient_keys(account_id, id, external_id, "
                                    "email, first_name) FROM patients WHERE id = :p"), {"p": "p-b"}).scalar()
        other = conn.execute(sa.text("SELECT patient_pipeline.steward_patient_keys(account_id, id, external_id, "
                                     "email, first_name) FROM patients WHERE id = 'p-s'")).scalar()
        assert conn.execute(sa.text("SELECT patient_pipeline.steward_kept_apart(:a, :b)"),
                            {"a": other, "b": keys}).scalar() is True
        assert not any("@" in k for k in keys + other), "keys hold hashes, never a readable e-mail"
    (undo,) = execute(pair, Request(action="undo_action", dry_run=False, confirm="UNDO",
                                    target_action_id=kept.action_id), ctx(), "run-2")
    assert undo.counts == {"pairs_revoked": 1, "review_rows_reopened": 1}
    with pair.connect() as conn:
        assert conn.execute(sa.text("SELECT patient_pipeline.steward_kept_apart(:a, :b)"),
                            {"a": other, "b": keys}).scalar() is False


def test_dismiss_resolves_only_the_named_items(pair):
    first = _review_item(pair)
    second = _review_item(pair, "fhir_replaced_by")
    (res,) = execute(pair, Request(action="dismiss", dry_run=False, items=[second]), ctx(), "run-1")
    assert res.counts == {"items_resolved": 1, "review_rows_resolved": 1}
    assert rows(pair, "SELECT kind, resolution FROM patient_pipeline.import_review ORDER BY review_id") == [
        ("name_dob_match", None), ("fhir_replaced_by", "dismissed")]
    (again,) = execute(pair, Request(action="dismiss", dry_run=False, items=[second]), ctx(), "run-2")
    assert (again.status, again.reason_code) == ("refused", "not_open")
    with pair.connect() as conn:
        assert [r["item"] for r in review.review_items(conn)] == [first]
        assert [r["action"] for r in actions.recent(conn)] == ["dismiss", "dismiss"]
