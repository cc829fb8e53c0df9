"""A pair kept separate is never queued again: not by a later backfill (nameless invite attached to the
most recent of several persons), not by a re-import of the same file (name + DOB look-alike, after the
file was undone and its bytes delivered again). Dismissing instead lets the pair be queued again (the
control that shows the rule is what changes the outcome)."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
import sqlalchemy as sa

from include.backfill.undo import undo_run
from include.imports import file_import
from include.stewardship import review
from include.stewardship.dispatch import execute
from include.stewardship.request import Request
from tests.backfill.legacy_rows import Legacy, at, backfill
from tests.stewardship.conftest import ACCOUNT, TODAY, ctx, rows
from tests.stewardship.conftest import execute as sql


def _decide(engine: sa.Engine, item: str, decision: str) -> None:
    (res,) = execute(engine, Request(action=decision, dry_run=False, items=[item]), ctx(), f"run-{decision}")
    assert res.status == "applied", res


@pytest.mark.parametrize("decision", ["keep_separate", "dismiss"])
def test_a_later_backfill_does_not_queue_a_pair_kept_separate(steward_db, decision):
    with steward_db.connect() as conn:
        lg = Legacy(conn)
        lg.account("acct-a")
        lg.clinician("clin-a", "acct-a")
        lg.invite("i-anna", "family@x.test", "Anna", "Smith", created_at=at(1))
        lg.invite("i-ben", "family@x.test", "Ben", "Smith", created_at=at(3))
        lg.invite("i-nameless", "family@x.test", "  ", None, created_at=at(9))
        backfill(conn, run_id="backfill-1")
    item = "backfill:invite:i-nameless:nameless_invite_multiple_persons"
    with steward_db.connect() as conn:
        assert [r["item"] for r in review.review_items(conn)] == [item]
    _decide(steward_db, item, decision)
    with steward_db.connect() as conn:
        assert review.review_items(conn) == []
        undo_run(conn, "backfill-1")  # the migration's auto-rollback: the next backfill plans the invites again
        backfill(conn, run_id="backfill-2")
    queued = rows(steward_db, "SELECT run_id, entity_id FROM patient_pipeline.backfill_review_queue ORDER BY run_id")
    if decision == "keep_separate":
        assert queued == [("backfill-1", "i-nameless")]
        with steward_db.connect() as conn:
            assert review.review_items(conn) == []
    else:
        assert queued == [("backfill-1", "i-nameless"), ("backfill-2", "i-nameless")]
        with steward_db.connect() as conn:
            assert [r["item"] for r in review.review_items(conn)] == [item]


@pytest.mark.parametrize("decision", ["keep_separate", "dismiss"])
def test_a_reimport_of_the_same_file_does_not_queue_a_pair_kept_separate(steward_db, csv_source, drop_csv,
                                                                           tmp_path, decision):
    sql(steward_db, "INSERT INTO patients (id, account_id, external_id, email, first_name, last_name, "
                    f"date_of_birth, status) VALUES ('p-ann', '{ACCOUNT}', 'MRN-1', 'ann@example.com', 'Ann', 'Lee', "
                    "'1970-01-01', 'pending')")
    path = drop_csv("north_20250601.csv", ["ann.other@example.com,Ann,Lee,,MRN-9,1970-01-01",
                                           "zed@example.com,Zed,Unrelated,,MRN-10,1980-05-05"])
    original = tmp_path / "original.csv"
    shutil.copyfile(path, original)
    first = file_import.import_file(steward_db, csv_source, path, run_id="night-1", today=TODAY)
    assert (first.status, first.reason_code, first.quarantined_by_reason, first.inserted, first.review_items) == ("done", None, {}, 2, 1)
    with steward_db.connect() as conn:
        (item,) = review.review_items(conn)
    assert item["candidate_patient_id"] == "p-ann"
    _decide(steward_db, item["item"], decision)

    (undone,) = execute(steward_db, Request(action="undo_import", dry_run=False, confirm="UNDO_IMPORT",
                                            file_id=first.file_id), ctx(), "run-undo")
    assert undone.counts["removed"] == 2
    again_path = Path(csv_source.incoming()) / "north_20250601.csv"
    shutil.copyfile(original, again_path)
    again = file_import.import_file(steward_db, csv_source, str(again_path), run_id="night-2", today=TODAY)
    assert (again.status, again.inserted) == ("done", 2)
    queued = rows(steward_db, "SELECT candidate_patient_id FROM patient_pipeline.import_review WHERE file_id = :f",
                  f=again.file_id)
    if decision == "keep_separate":
        assert queued == [] and again.review_items == 0
    else:
        assert queued == [("p-ann",)] and again.review_items == 1
