"""The matcher against PostgreSQL (both servers): what it queues, what it never queues twice, what a
steward's decision suppresses, identifiers through merge / unmerge, no PHI in logs or reports."""

from __future__ import annotations

import json
import logging

import sqlalchemy as sa

from include.identity import matcher
from include.stewardship import review
from include.stewardship.actions import Context
from tests.identity.conftest import ACCOUNT, OTHER, add_patients, queue

CTX = Context(actor="steward-test", origin="test", dry_run=False)

PEOPLE = [
    # the original and a typo'd copy from a second system (another MRN namespace, another e-mail)
    dict(id="p-orig", first="Jonathan", last="Whitfield", dob="1972-03-08", email="jon.whitfield@mail.example",
         phone="+15551234567", ids=[("ehr-mrn", "E100")]),
    dict(id="p-typo", first="Jonahtan", last="Whitfield", dob="1972-03-08", email="jw72@post.example",
         phone="+15551234567", ids=[("fhir-id", "F900")]),
    # the twin: same surname, birth date, e-mail and phone, another first name
    dict(id="p-twin", first="Marcus", last="Whitfield", dob="1972-03-08", email="jon.whitfield@mail.example",
         phone="+15551234567", ids=[("ehr-mrn", "E101")]),
    dict(id="p-else", first="Amelia", last="Stone", dob="1990-11-02", email="amelia@web.example",
         ids=[("ehr-mrn", "E102")]),
]
PHI = [v for p in PEOPLE for k, v in p.items() if k in ("first", "last", "email", "phone")] + ["1972-03-08"]


def test_full_pass_queues_the_typo_copy_and_not_the_twin(identity_db, cfg):
    add_patients(identity_db, PEOPLE)
    res = matcher.run_account(identity_db, ACCOUNT, mode="full", cfg=cfg)
    items = queue(identity_db)
    assert [(i["patient_id"], i["candidate_patient_id"]) for i in items] == [("p-orig", "p-typo")]
    (item,) = items
    assert item["item_id"] == f"match:{item['item_id'].split(':')[1]}" and item["status"] == "open"
    assert item["account_id"] == ACCOUNT and item["match_probability"] >= cfg.threshold
    assert item["origin"] == f"matcher:{res.match_run_id}"
    assert item["evidence"]["first_name"]["level"] == "jaro_winkler_0.92"
    assert res.queued == 1 and res.patients == 4 and res.model_name == "genascope-default-v1"
    assert sum(res.pairs_by_rule.values()) == res.pairs_scored >= 2


def test_a_rerun_queues_nothing_twice(identity_db, cfg):
    add_patients(identity_db, PEOPLE)
    matcher.run_account(identity_db, ACCOUNT, cfg=cfg)
    again = matcher.run_account(identity_db, ACCOUNT, cfg=cfg)
    assert (again.queued, again.already_open) == (0, 1)
    assert len(queue(identity_db)) == 1


def test_a_dismissed_pair_is_not_queued_again_until_a_field_changes(identity_db, cfg):
    add_patients(identity_db, PEOPLE)
    matcher.run_account(identity_db, ACCOUNT, cfg=cfg)
    (item,) = queue(identity_db)
    with identity_db.begin() as conn:
        review.dismiss(conn, CTX, [item["item_id"]])
    rerun = matcher.run_account(identity_db, ACCOUNT, cfg=cfg)
    assert (rerun.queued, rerun.suppressed_decided) == (0, 1)
    assert [i["status"] for i in queue(identity_db)] == ["dismissed"]
    with identity_db.begin() as conn:  # the copy is corrected later: the pair is worth a new look
        conn.execute(sa.text("UPDATE patients SET email = 'jw1972@post.example', updated_at = now() AT TIME ZONE 'utc' "
                             "+ interval '1 minute' WHERE id = 'p-typo'"))
    assert matcher.run_account(identity_db, ACCOUNT, cfg=cfg).queued == 1


def test_keep_separate_on_a_match_item_suppresses_the_pair(identity_db, cfg):
    add_patients(identity_db, PEOPLE)
    matcher.run_account(identity_db, ACCOUNT, cfg=cfg)
    (item,) = queue(identity_db)
    with identity_db.begin() as conn:
        res = review.keep_separate(conn, CTX, item=item["item_id"])
    assert res.counts["review_rows_resolved"] == 1
    assert matcher.run_account(identity_db, ACCOUNT, cfg=cfg).queued == 0
    assert [i["status"] for i in queue(identity_db)] == ["kept_separate"]


def test_merge_of_a_match_item_moves_identifiers_and_unmerge_restores_them(identity_db, cfg):
    add_patients(identity_db, PEOPLE)
    matcher.run_account(identity_db, ACCOUNT, cfg=cfg)
    (item,) = queue(identity_db)
    with identity_db.begin() as conn:
        merged = review.merge(conn, CTX, "p-orig", "p-typo", items=[item["item_id"]])
    assert merged.counts["identifiers_moved"] == 1 and merged.counts["review_rows_resolved"] == 1
    with identity_db.connect() as conn:
        owner = dict(conn.execute(sa.text("SELECT value, patient_id FROM patient_pipeline.patient_identifier "
                                          "WHERE account_id = :a"), {"a": ACCOUNT}).all())
    assert owner["F900"] == "p-orig"
    assert [i["status"] for i in queue(identity_db)] == ["merged"]
    # the merged (archived) patient is not matched any more
    assert matcher.run_account(identity_db, ACCOUNT, cfg=cfg).patients == 3
    with identity_db.begin() as conn:
        undone = review.unmerge(conn, CTX, merge_action_id=merged.action_id)
    assert undone.counts["identifiers_moved_back"] == 1
    with identity_db.connect() as conn:
        assert conn.execute(sa.text("SELECT patient_id FROM patient_pipeline.patient_identifier "
                                    "WHERE value = 'F900'")).scalar() == "p-typo"
    assert [i["status"] for i in queue(identity_db)] == ["open"]


def test_never_pairs_across_accounts(identity_db, cfg):
    add_patients(identity_db, PEOPLE[:1])
    add_patients(identity_db, [dict(PEOPLE[1], id="p-typo-other")], account=OTHER)
    for acct in (ACCOUNT, OTHER):
        assert matcher.run_account(identity_db, acct, cfg=cfg).pairs_scored == 0
    assert queue(identity_db) == []


def test_incremental_pass_scores_only_pairs_with_a_new_patient(identity_db, cfg):
    add_patients(identity_db, PEOPLE)
    res = matcher.run_account(identity_db, ACCOUNT, mode="incremental", new_patient_ids=["p-else"], cfg=cfg)
    assert res.new_patients == 1 and res.queued == 0
    res = matcher.run_account(identity_db, ACCOUNT, mode="incremental", new_patient_ids=["p-typo"], cfg=cfg)
    assert res.queued == 1


def test_precision_and_recall_against_decisions(identity_db, cfg):
    add_patients(identity_db, PEOPLE)
    matcher.run_account(identity_db, ACCOUNT, cfg=cfg)
    (item,) = queue(identity_db)
    with identity_db.begin() as conn:
        review.merge(conn, CTX, "p-orig", "p-typo", items=[item["item_id"]])
    res = matcher.run_account(identity_db, ACCOUNT, cfg=cfg)
    assert res.decisions is not None and res.decisions.as_dict()["decided_pairs"] == 1
    assert (res.decisions.precision, res.decisions.recall) == (1.0, 1.0)
    assert res.queue_by_kind["probable_duplicate"] == {"merged": 1}


def test_no_phi_in_logs_run_rows_or_reports(identity_db, cfg, caplog, tmp_path):
    add_patients(identity_db, PEOPLE)
    caplog.set_level(logging.DEBUG)
    res = matcher.run_account(identity_db, ACCOUNT, cfg=cfg)
    with identity_db.connect() as conn:
        stored = conn.execute(sa.text(
            "SELECT counts::text || coalesce(report::text, '') || coalesce(model::text, '') "
            "FROM patient_pipeline.match_run")).scalars().all()
        evidence = conn.execute(sa.text("SELECT evidence::text FROM patient_pipeline.match_pair")).scalars().all()
    text = "\n".join([caplog.text, json.dumps(res.as_dict()), *stored, *evidence])
    for value in PHI:
        assert value.lower() not in text.lower(), "a patient value leaked"
    assert not list((tmp_path / "match-work").glob("*")), "the working directory was not removed"
