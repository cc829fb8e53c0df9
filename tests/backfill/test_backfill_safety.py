"""Rules 8-10 and resumability: reruns converge, existing patients are matched, every link is
ledgered, legacy columns stay untouched, a paused run resumes to the uninterrupted result."""

from __future__ import annotations

import pytest
import sqlalchemy as sa

from include.backfill import BackfillOptions, PlanMissing, create_patients, link_invites, plan, run_all
from include.core import checksums
from tests.backfill.legacy_rows import Legacy, at, backfill, invite_links, patients


def small_clinic(legacy: Legacy) -> None:
    """A little of everything: relatives, variants, two accounts, users with and without invites, chats."""
    legacy.invite("i01", "family@x.test", "Anna", "Smith", status="accepted", created_at=at(1))
    legacy.invite("i02", "FAMILY@x.test ", "Ben", "Smith", created_at=at(2))
    legacy.invite("i03", "family@x.test", None, None, created_at=at(3))
    legacy.invite("i04", "carl@x.test", "Carl", "Jones", clinician_id="clin-b", status="completed", created_at=at(4))
    legacy.invite("i05", "carl@x.test", "Carl", "Jones", clinician_id="clin-a", created_at=at(5))
    legacy.invite("i06", "nobody@x.test", None, None, created_at=at(6))
    legacy.invite("i07", "dora@x.test", "Dora", "Lee", phone="555-444-3333", status="revoked", created_at=at(7))
    legacy.user("u-anna", "Anna Smith", "family@x.test", account_id="acct-a")
    legacy.user("u-carl", "Mr. Carl Jones", "Carl@x.test", account_id="acct-b")
    legacy.user("u-eve", "Eve Adams", "eve@x.test", clinician_id="clin-b")
    legacy.chat("chat-1", "u-anna")
    legacy.chat("chat-2", "u-carl")
    legacy.chat("chat-3", "u-eve")
    legacy.chat("chat-4", "clin-a")  # a clinician's session: no patient


def snapshot(conn: sa.Connection) -> dict[str, object]:
    out = {
        "patients": patients(conn),
        "invites": invite_links(conn),
        "chats": [tuple(r) for r in conn.execute(sa.text("SELECT id, patient_id FROM chat_sessions ORDER BY id"))],
    }
    conn.commit()
    return out


def ledger(conn: sa.Connection) -> list[tuple]:
    rows = conn.execute(sa.text(
        "SELECT entity, entity_id, patient_id, patient_created_by_run FROM patient_pipeline.backfill_link_ledger "
        "ORDER BY entity, entity_id")).all()
    conn.commit()
    return [tuple(r) for r in rows]


def test_small_clinic_ends_fully_linked_except_quarantined(conn, legacy):
    small_clinic(legacy)
    result = backfill(conn)
    assert result.complete
    rows = patients(conn)
    assert [(p["account_id"], p["email"], p["first_name"], p["last_name"], p["phone"], p["user_id"], p["status"])
            for p in rows] == [
        ("acct-a", "carl@x.test", "Carl", "Jones", None, None, "pending"),
        ("acct-a", "dora@x.test", "Dora", "Lee", "+15554443333", None, "inactive"),   # revoked only: fallback
        ("acct-a", "family@x.test", "Anna", "Smith", None, "u-anna", "active"),
        ("acct-a", "FAMILY@x.test", "Ben", "Smith", None, None, "pending"),
        ("acct-b", "carl@x.test", "Carl", "Jones", None, "u-carl", "active"),     # the accepted one
        ("acct-b", "eve@x.test", "Eve", "Adams", None, "u-eve", "active"),        # no account: clinician's
    ]
    by_name = {(p["account_id"], p["first_name"]): p["id"] for p in rows}
    assert invite_links(conn) == {
        "i01": by_name["acct-a", "Anna"], "i02": by_name["acct-a", "Ben"],
        "i03": by_name["acct-a", "Anna"],          # nameless: named after the matching user (Anna Smith)
        "i04": by_name["acct-b", "Carl"], "i05": by_name["acct-a", "Carl"],
        "i06": None,                               # quarantined: missing_name
        "i07": by_name["acct-a", "Dora"],
    }
    assert result.plan.quarantined_invite_ids == ["i06"]
    assert snapshot(conn)["chats"] == [("chat-1", by_name["acct-a", "Anna"]), ("chat-2", by_name["acct-b", "Carl"]),
                                       ("chat-3", by_name["acct-b", "Eve"]), ("chat-4", None)]


def test_rerun_changes_nothing(conn, legacy):
    small_clinic(legacy)
    backfill(conn, run_id="run-1")
    before, ledger_before = snapshot(conn), ledger(conn)
    again = backfill(conn, run_id="run-1")
    other = backfill(conn, run_id="run-2")
    assert snapshot(conn) == before
    assert ledger(conn) == ledger_before
    assert again.plan.nothing_to_do or sum(r.rows for r in again.phases) == 0
    assert other.plan.nothing_to_do and sum(r.rows for r in other.phases) == 0


def test_application_written_patient_with_the_same_identity_key_is_matched_not_duplicated(conn, legacy):
    legacy.invite("i1", "anna@x.test", "Anna", "Smith", status="accepted")
    legacy.user("u1", "Anna Smith", "anna@x.test", account_id="acct-a")
    conn.execute(sa.text(
        "INSERT INTO patients (id, account_id, email, first_name, last_name, status) "
        "VALUES ('app-patient-1', 'acct-a', 'ANNA@x.test', ' anna', 'Smith-App', 'pending')"))
    conn.commit()
    result = backfill(conn)
    assert result.plan.patients_to_create == 0 and result.plan.patients_matched == 1
    rows = patients(conn)
    assert [(p["id"], p["last_name"], p["user_id"]) for p in rows] == [("app-patient-1", "Smith-App", "u1")]
    assert invite_links(conn) == {"i1": "app-patient-1"}
    # recorded as links to a patient this run did not create
    assert ledger(conn) == [("invite", "i1", "app-patient-1", False), ("user", "u1", "app-patient-1", False)]
    created = conn.execute(sa.text("SELECT count(*) FROM patient_pipeline.backfill_patient_ledger")).scalar_one()
    assert created == 0


def test_patient_written_between_plan_and_create_is_matched(conn, legacy):
    legacy.invite("i1", "anna@x.test", "Anna", "Smith")
    opts = BackfillOptions(run_id="run-1")
    plan(conn, opts)
    conn.execute(sa.text(
        "INSERT INTO patients (id, account_id, email, first_name, last_name) "
        "VALUES ('app-patient-1', 'acct-a', 'anna@x.test', 'Anna', 'Smith')"))
    conn.commit()
    assert create_patients(conn, opts).rows == 0
    assert link_invites(conn, opts).rows == 1
    assert invite_links(conn) == {"i1": "app-patient-1"}
    assert len(patients(conn)) == 1


def test_every_link_is_recorded_in_the_ledger(conn, legacy):
    small_clinic(legacy)
    backfill(conn)
    recorded = {(e, i): p for e, i, p, _ in ledger(conn)}
    links = {("invite", k): v for k, v in invite_links(conn).items() if v}
    chats = {("chat_session", k): v for k, v in
             conn.execute(sa.text("SELECT id, patient_id FROM chat_sessions WHERE patient_id IS NOT NULL")).all()}
    users = {("user", u): p for p, u in
             conn.execute(sa.text("SELECT id, user_id FROM patients WHERE user_id IS NOT NULL")).all()}
    conn.commit()
    assert recorded == {**links, **chats, **users}
    created = set(conn.execute(sa.text("SELECT patient_id FROM patient_pipeline.backfill_patient_ledger")).scalars())
    assert created == {p["id"] for p in patients(conn)}
    assert all(flag for *_, flag in ledger(conn))


def test_legacy_checksums_are_unchanged(conn, legacy):
    small_clinic(legacy)
    before = checksums.legacy_checksums(conn)
    conn.commit()
    backfill(conn)
    after = checksums.legacy_checksums(conn)
    conn.commit()
    assert checksums.compare(before, after) == []


def test_dry_run_plan_writes_no_application_table(conn, legacy):
    small_clinic(legacy)
    before = snapshot(conn)
    summary = plan(conn, BackfillOptions(run_id="dry"))
    assert snapshot(conn) == before
    assert (summary.patients_to_create, summary.invites_to_link, summary.users_to_link, summary.chats_to_link) == (
        6, 6, 3, 3)
    assert summary.quarantined_invite_ids == ["i06"]


def test_paused_and_resumed_run_equals_an_uninterrupted_run(app_db, legacy, pg_server):
    """max_batches=1 with batch_size=2 pauses every phase after each batch; calling again resumes
    from the checkpoint. Same ids and links as an uninterrupted run on a second database."""
    from tests.conftest import create_database, drop_database
    conn = legacy.conn
    small_clinic(legacy)
    paused = BackfillOptions(run_id="run-1", batch_size=2, max_batches=1)
    calls = 0
    while True:
        calls += 1
        result = run_all(conn, paused)
        if result.complete:
            break
        assert result.phases[-1].complete is False
        assert calls < 50
    assert calls > 4
    paused_snap = snapshot(conn)

    uri = create_database(pg_server)
    try:
        from include.core import alembic_driver, pipeline_schema, settings
        from include.core.db import to_sqlalchemy_url
        eng = sa.create_engine(to_sqlalchemy_url(uri))
        with eng.connect() as other:
            alembic_driver.upgrade(other, settings.REV_UPDATE_PATIENTS)
            pipeline_schema.ensure(other)
            lg = Legacy(other)
            lg.account("acct-a")
            lg.account("acct-b")
            lg.clinician("clin-a", "acct-a")
            lg.clinician("clin-b", "acct-b")
            small_clinic(lg)
            assert run_all(other, BackfillOptions(run_id="run-x")).complete
            assert snapshot(other) == paused_snap
        eng.dispose()
    finally:
        drop_database(pg_server, uri)


def test_checkpoint_resume_starts_after_the_last_committed_batch(conn, legacy):
    for n in range(7):
        legacy.invite(f"i{n}", f"p{n}@x.test", f"P{n}", "Smith")
    opts = BackfillOptions(run_id="run-1", batch_size=3, max_batches=1)
    plan(conn, opts)
    first = create_patients(conn, opts)
    assert (first.rows, first.batches, first.resumed_from, first.complete) == (3, 1, None, False)
    second = create_patients(conn, opts)
    assert second.resumed_from is not None and second.rows == 3
    third = create_patients(conn, opts)
    assert (third.rows, third.complete) == (1, True)
    assert len(patients(conn)) == 7
    done = create_patients(conn, opts)
    assert (done.rows, done.batches, done.complete) == (0, 0, True)


def test_lanes_split_a_phase_and_a_resume_keeps_the_split_it_started_with(conn, legacy):
    for n in range(12):
        legacy.invite(f"i{n:02d}", f"p{n}@x.test", f"P{n}", "Smith")
    two = BackfillOptions(run_id="run-1", batch_size=2, max_batches=1, lanes=2, lane_min_batches=1)
    plan(conn, two)
    first = create_patients(conn, two)  # each lane commits one batch and pauses
    assert (first.lanes, first.rows, first.batches, first.complete) == (2, 4, 2, False)
    rest = create_patients(conn, BackfillOptions(run_id="run-1", batch_size=2, lanes=1))
    assert (rest.lanes, rest.rows, rest.complete) == (2, 8, True)
    assert rest.resumed_from is not None
    assert len(patients(conn)) == 12
    done = conn.execute(sa.text("SELECT phase, rows, done FROM patient_pipeline.backfill_checkpoints "
                                "WHERE phase LIKE 'create%' ORDER BY phase")).all()
    conn.commit()
    assert [tuple(r) for r in done] == [("create_patients#1/2", 6, True), ("create_patients#2/2", 6, True)]


def test_catch_up_links_rows_the_application_wrote_during_the_backfill(conn, legacy):
    from include.backfill import catch_up, link_chat_sessions, link_users
    legacy.invite("i1", "anna@x.test", "Anna", "Smith")
    opts = BackfillOptions(run_id="run-1")
    plan(conn, opts)
    create_patients(conn, opts)
    link_invites(conn, opts)
    # the old application keeps writing meanwhile
    legacy.invite("i2", "anna@x.test", "ANNA", "Smith", status="accepted", created_at=at(9))
    legacy.invite("i3", "bob@x.test", "Bob", "Stone", created_at=at(9))
    legacy.user("u1", "Anna Smith", "anna@x.test", account_id="acct-a")
    legacy.chat("chat-1", "u1")
    link_users(conn, opts)
    link_chat_sessions(conn, opts)
    out = catch_up(conn, opts)
    assert out["rounds"] == 1 and out["complete"] and not out["bound_hit"]
    assert out["rows"] == {"create_patients": 1, "link_invites": 2, "link_users": 1, "link_chat_sessions": 1}
    links = invite_links(conn)
    assert links["i1"] == links["i2"] != links["i3"] and None not in links.values()
    anna = [p for p in patients(conn) if p["first_name"] == "Anna"]
    assert [(p["user_id"], p["status"]) for p in anna] == [("u1", "pending")]  # created before the user existed


def test_a_phase_without_a_plan_says_to_run_the_plan_first(conn, legacy):
    with pytest.raises(PlanMissing, match="plan_backfill"):
        create_patients(conn, BackfillOptions(run_id="never-planned"))
