"""docs/contracts/data-model.md §4, rule by rule, on small hand-written legacy data with exact expected outcomes."""

from __future__ import annotations

import pytest
import sqlalchemy as sa

from include.backfill import BackfillOptions, plan
from tests.backfill.legacy_rows import at, backfill, invite_links, patient_of, patients


def names(rows: list[dict]) -> list[tuple]:
    return [(p["account_id"], p["email"], p["first_name"], p["last_name"]) for p in rows]


# Rule 3: identity key = account, e-mail key, first-name key.

def test_relatives_sharing_an_email_stay_separate_patients(conn, legacy):
    legacy.invite("i-mother", "family@x.test", "Anna", "Smith", created_at=at(1))
    legacy.invite("i-son", "family@x.test", "Ben", "Smith", created_at=at(2))
    backfill(conn)
    assert names(patients(conn)) == [
        ("acct-a", "family@x.test", "Anna", "Smith"),
        ("acct-a", "family@x.test", "Ben", "Smith"),
    ]
    links = invite_links(conn)
    assert links["i-mother"] != links["i-son"]
    assert None not in links.values()


def test_email_case_and_space_variants_merge_into_one_patient(conn, legacy):
    legacy.invite("i1", "  Anna@X.test", "anna", "Smith", created_at=at(1))
    legacy.invite("i2", "anna@x.TEST  ", " Anna ", "Smith", created_at=at(2))
    legacy.invite("i3", "ANNA@X.TEST", "ANNA", "Smith", created_at=at(3))
    backfill(conn)
    rows = patients(conn)
    # one patient; e-mail and first name as given (trimmed) by the most recent invite
    assert names(rows) == [("acct-a", "ANNA@X.TEST", "ANNA", "Smith")]
    assert set(invite_links(conn).values()) == {rows[0]["id"]}


# Rule 2: the account is the clinician's; never merge across accounts; unresolved bucket.

def test_same_email_in_two_accounts_never_merges(conn, legacy):
    legacy.invite("i-a", "anna@x.test", "Anna", "Smith", clinician_id="clin-a")
    legacy.invite("i-b", "anna@x.test", "Anna", "Smith", clinician_id="clin-b")
    backfill(conn)
    assert names(patients(conn)) == [
        ("acct-a", "anna@x.test", "Anna", "Smith"),
        ("acct-b", "anna@x.test", "Anna", "Smith"),
    ]
    assert patient_of(conn, "i-a")["account_id"] == "acct-a"
    assert patient_of(conn, "i-b")["account_id"] == "acct-b"


def test_unresolved_account_invites_form_their_own_bucket_and_are_reported(conn, legacy):
    legacy.clinician("clin-orphan", None)              # clinician without an account
    legacy.clinician("clin-ghost", "acct-deleted")     # account row that does not exist
    legacy.invite("i1", "anna@x.test", "Anna", "Smith", clinician_id="clin-orphan", created_at=at(1))
    legacy.invite("i2", "anna@x.test", "Anna", "Smith", clinician_id="clin-ghost", created_at=at(2))
    legacy.invite("i3", "carl@x.test", "Carl", "Jones", clinician_id=None)
    legacy.invite("i4", "anna@x.test", "Anna", "Smith", clinician_id="clin-a")
    summary = plan(conn, BackfillOptions(run_id="dry"))
    assert summary.unresolved_account_invites == 3
    backfill(conn)
    assert names(patients(conn)) == [
        (None, "anna@x.test", "Anna", "Smith"),
        (None, "carl@x.test", "Carl", "Jones"),
        ("acct-a", "anna@x.test", "Anna", "Smith"),
    ]
    assert patient_of(conn, "i1")["id"] == patient_of(conn, "i2")["id"]
    assert patient_of(conn, "i4")["account_id"] == "acct-a"


# Rule 3: nameless invites.

def test_nameless_invite_joins_the_only_named_person(conn, legacy):
    legacy.invite("i-named", "anna@x.test", "Anna", "Smith", created_at=at(1))
    legacy.invite("i-nameless", "ANNA@x.test", None, None, created_at=at(5))
    summary = backfill(conn).plan
    assert len(patients(conn)) == 1
    assert patient_of(conn, "i-nameless")["id"] == patient_of(conn, "i-named")["id"]
    assert summary.review_queue_invite_ids == []


def test_nameless_invite_joins_the_most_recent_of_several_persons_and_goes_to_review(conn, legacy):
    legacy.invite("i-anna", "family@x.test", "Anna", "Smith", created_at=at(1))
    legacy.invite("i-ben", "family@x.test", "Ben", "Smith", created_at=at(3))
    legacy.invite("i-anna-again", "family@x.test", "Anna", "Smith", created_at=at(2))
    legacy.invite("i-nameless", "family@x.test", "  ", None, created_at=at(9))
    summary = backfill(conn).plan
    assert len(patients(conn)) == 2
    assert patient_of(conn, "i-nameless")["first_name"] == "Ben"
    assert summary.review_queue_invite_ids == ["i-nameless"]
    queued = conn.execute(sa.text(
        "SELECT entity_id, reason, patient_id FROM patient_pipeline.backfill_review_queue")).all()
    assert [(q.entity_id, q.reason, q.patient_id) for q in queued] == [
        ("i-nameless", "nameless_invite_multiple_persons", patient_of(conn, "i-ben")["id"])]


def test_nameless_invite_without_any_name_is_quarantined_missing_name(conn, legacy):
    legacy.invite("i-nameless", "nobody@x.test", None, None)
    legacy.invite("i-placeholder", "ghost@x.test", "Unknown", "N/A")
    legacy.invite("i-no-last", "solo@x.test", "Solo", None)
    result = backfill(conn)
    assert patients(conn) == []
    assert invite_links(conn) == {"i-nameless": None, "i-no-last": None, "i-placeholder": None}
    assert result.plan.quarantined_invite_ids == ["i-nameless", "i-no-last", "i-placeholder"]
    reasons = conn.execute(sa.text(
        "SELECT DISTINCT reason FROM patient_pipeline.backfill_quarantine WHERE entity = 'invite'")).scalars().all()
    assert reasons == ["missing_name"]


def test_nameless_invite_takes_its_name_from_the_matching_user(conn, legacy):
    legacy.invite("i1", "Dana@x.test", None, None, status="accepted")
    legacy.user("u-dana", "Mrs. Dana Scully", "dana@x.test", account_id="acct-a")
    backfill(conn)
    p = patient_of(conn, "i1")
    assert (p["first_name"], p["last_name"], p["user_id"], p["status"]) == ("Dana", "Scully", "u-dana", "active")


# Rule 4: attributes.

def test_attributes_come_from_the_most_recent_non_revoked_invite(conn, legacy):
    legacy.invite("i-old", "anna@x.test", "Anna", "Old", clinician_id="clin-a", phone="555 000 1111", created_at=at(1))
    legacy.clinician("clin-a2", "acct-a")
    legacy.invite("i-mid", "anna@x.test", "Anna", "Current", clinician_id="clin-a2", created_at=at(2))
    legacy.invite("i-revoked", "anna@x.test", "Anna", "Revoked", clinician_id="clin-a", phone="555 999 9999",
                  status="revoked", created_at=at(3))
    backfill(conn)
    [p] = patients(conn)
    # last name and clinician from i-mid; i-mid has no phone: the next non-revoked invite that has one
    assert (p["last_name"], p["clinician_id"], p["phone"]) == ("Current", "clin-a2", "+15550001111")


def test_titles_are_stripped_from_user_names(conn, legacy):
    legacy.user("u1", "Dr. Jane Q. Public", "jane@x.test", account_id="acct-a")
    legacy.user("u2", "prof.  Max   Planck PhD", "max@x.test", account_id="acct-a")
    backfill(conn)
    assert [(p["first_name"], p["last_name"]) for p in patients(conn)] == [("Jane Q.", "Public"), ("Max", "Planck")]


def test_profile_timestamp_dob_becomes_a_date_and_phones_become_e164(conn, legacy):
    from datetime import date, datetime
    legacy.invite("i1", "anna@x.test", "Anna", "Smith", status="accepted")
    legacy.user("u1", "Anna Smith", "anna@x.test", account_id="acct-a")
    legacy.profile("u1", date_of_birth=datetime(1980, 5, 17, 23, 59, 59), phone="1 (555) 234-5678")
    legacy.invite("i2", "carl@x.test", "Carl", "Jones", phone="+44 20 7946 0958")
    legacy.invite("i3", "dora@x.test", "Dora", "Lee", phone="call me maybe")
    result = backfill(conn)
    by_first = {p["first_name"]: p for p in patients(conn)}
    assert by_first["Anna"]["date_of_birth"] == date(1980, 5, 17)
    assert by_first["Anna"]["phone"] == "+15552345678"
    assert by_first["Carl"]["phone"] == "+442079460958"
    assert by_first["Dora"]["phone"] is None
    assert result.plan.unparseable_phones == 1


# Rule 5: users.

def test_accepted_invite_with_null_user_id_finds_its_user_by_email(conn, legacy):
    legacy.invite("i1", "anna@x.test", "Anna", "Smith", status="accepted", user_id=None)
    legacy.user("u1", "Anna Smith", " ANNA@x.test", account_id="acct-a")
    legacy.chat("chat-1", "u1")
    legacy.chat("chat-2", "u1")
    backfill(conn)
    [p] = patients(conn)
    assert p["user_id"] == "u1"
    chats = conn.execute(sa.text("SELECT id, patient_id FROM chat_sessions ORDER BY id")).all()
    assert [(c.id, c.patient_id) for c in chats] == [("chat-1", p["id"]), ("chat-2", p["id"])]


def test_user_goes_to_the_relative_whose_first_name_agrees(conn, legacy):
    legacy.invite("i-anna", "family@x.test", "Anna", "Smith", status="accepted")
    legacy.invite("i-ben", "family@x.test", "Ben", "Smith", status="accepted")
    legacy.user("u-ben", "Ben Smith", "family@x.test", account_id="acct-a")
    backfill(conn)
    assert patient_of(conn, "i-ben")["user_id"] == "u-ben"
    assert patient_of(conn, "i-anna")["user_id"] is None


def test_invite_user_id_is_strong_evidence_for_the_user_link(conn, legacy):
    legacy.user("u1", "Robert Smith", "bob@x.test", account_id="acct-b")
    legacy.invite("i-a", "bob@x.test", "Bob", "Smith", clinician_id="clin-a", status="accepted")
    legacy.invite("i-b", "bob@x.test", "Bob", "Smith", clinician_id="clin-b", status="pending", user_id="u1")
    backfill(conn)
    assert patient_of(conn, "i-b")["user_id"] == "u1"
    assert patient_of(conn, "i-a")["user_id"] is None


def test_user_invited_in_two_accounts_goes_to_the_one_with_an_accepted_invite(conn, legacy):
    legacy.user("u1", "Anna Smith", "anna@x.test", account_id="acct-a")
    legacy.invite("i-a", "anna@x.test", "Anna", "Smith", clinician_id="clin-a", status="pending")
    legacy.invite("i-b", "anna@x.test", "Anna", "Smith", clinician_id="clin-b", status="Accepted ")
    backfill(conn)
    assert patient_of(conn, "i-b")["user_id"] == "u1"
    assert patient_of(conn, "i-a")["user_id"] is None


def test_user_invited_in_two_accounts_without_acceptance_goes_to_its_own_account(conn, legacy):
    legacy.user("u1", "Anna Smith", "anna@x.test", account_id="acct-b")
    legacy.invite("i-a", "anna@x.test", "Anna", "Smith", clinician_id="clin-a")
    legacy.invite("i-b", "anna@x.test", "Anna", "Smith", clinician_id="clin-b")
    backfill(conn)
    assert patient_of(conn, "i-b")["user_id"] == "u1"
    assert patient_of(conn, "i-a")["user_id"] is None


def test_user_without_invite_gets_a_patient_in_its_own_account_else_its_clinicians(conn, legacy):
    legacy.user("u-own", "Olga Own", "olga@x.test", account_id="acct-a", clinician_id="clin-b")
    legacy.user("u-clin", "Carl Clin", "carl@x.test", account_id=None, clinician_id="clin-b")
    legacy.user("u-none", "Nora Nobody", "nora@x.test")
    legacy.user("u-staff", "Dr. Staff Member", "staff@x.test", role="admin", account_id="acct-a")
    legacy.user("u-case", "Pia Case", "pia@x.test", role="PATIENT", account_id="acct-a")
    backfill(conn)
    got = {p["user_id"]: (p["account_id"], p["first_name"], p["last_name"], p["status"]) for p in patients(conn)}
    assert got == {
        "u-own": ("acct-a", "Olga", "Own", "active"),
        "u-clin": ("acct-b", "Carl", "Clin", "active"),
        "u-none": (None, "Nora", "Nobody", "active"),
        "u-case": ("acct-a", "Pia", "Case", "active"),
    }


# Rule 6: status.

@pytest.mark.parametrize(("invites", "expected"), [
    ([("accepted", None)], "active"),
    ([(" COMPLETED", None)], "active"),
    ([("pending", None)], "pending"),
    ([("pending", at(100_000))], "pending"),
    ([("Pending", at(-1))], "inactive"),
    ([("expired", None), ("revoked", None)], "inactive"),
    ([(None, None)], "inactive"),
    ([("revoked", None), ("pending", None)], "pending"),
])
def test_status_follows_the_invites(conn, legacy, invites, expected):
    for n, (status, expires_at) in enumerate(invites):
        legacy.invite(f"i{n}", "anna@x.test", "Anna", "Smith", status=status, expires_at=expires_at, created_at=at(n))
    backfill(conn)
    assert [p["status"] for p in patients(conn)] == [expected]


def test_a_linked_user_makes_the_patient_active(conn, legacy):
    legacy.invite("i1", "anna@x.test", "Anna", "Smith", status="expired")
    legacy.user("u1", "Anna Smith", "anna@x.test", account_id="acct-a")
    backfill(conn)
    assert [(p["status"], p["user_id"]) for p in patients(conn)] == [("active", "u1")]
