"""Upgrade safety of the key form (docs/contracts/data-model.md §4 rule 3, rule 8): a database an earlier version migrated with
the lower(btrim()) key keeps its patients. A rerun of the backfill matches them (never a duplicate), also
the persons that earlier key split on noise; those splits are listed for review, never merged silently."""

from __future__ import annotations

import sqlalchemy as sa

from include.gates.sql_gates import run_sql_gate
from tests.backfill.legacy_rows import at, backfill, invite_links, patients

FUTURE = at(100_000)


def _as_the_earlier_version_left_it(conn, legacy) -> None:
    """Invites linked to patients the way the earlier backfill wrote them: keyed by lower(btrim()), values
    btrim()med (so an NBSP or a zero-width space stayed in), which split Ann into two patients."""
    legacy.invite("i-ann-1", "ann.lee@example.org", "Ann", "Lee", status="accepted", created_at=at(1))
    legacy.invite("i-ann-2", "ann.lee@example.org\u00a0", "Ann", "Lee", status="expired", created_at=at(2))
    legacy.invite("i-bo-1", "Bo.Ek@example.org ", "Bo", "Ek", status="pending", expires_at=FUTURE, created_at=at(1))
    legacy.invite("i-fam-1", "fam@example.org", "Eva", "Sand", status="expired", created_at=at(1))
    legacy.invite("i-fam-2", "fam@example.org", "Max", "Sand", status="expired", created_at=at(1))
    legacy.user("u-ann", "Ann Lee", "ann.lee@example.org", account_id="acct-a", clinician_id="clin-a")
    rows = [("p-ann", "ann.lee@example.org", "Ann", "u-ann", "active", at(1)),
            ("p-ann-nbsp", "ann.lee@example.org\u00a0", "Ann", None, "inactive", at(2)),
            ("p-bo", "Bo.Ek@example.org", "Bo", None, "pending", at(1)),
            ("p-eva", "fam@example.org", "Eva", None, "inactive", at(1)),
            ("p-max", "fam@example.org", "Max", None, "inactive", at(1))]
    for pid, email, first, user, status, created in rows:
        conn.execute(sa.text(
            "INSERT INTO patients (id, account_id, clinician_id, email, first_name, last_name, status, user_id, "
            "created_at, updated_at) VALUES (:id, 'acct-a', 'clin-a', :e, :f, 'x', :s, :u, :c, :c)"),
            {"id": pid, "e": email, "f": first, "s": status, "u": user, "c": created})
    for inv, pid in (("i-ann-1", "p-ann"), ("i-ann-2", "p-ann-nbsp"), ("i-bo-1", "p-bo"), ("i-fam-1", "p-eva"),
                     ("i-fam-2", "p-max")):
        conn.execute(sa.text("UPDATE invites SET patient_id = :p WHERE id = :i"), {"p": pid, "i": inv})
    conn.commit()


def test_a_rerun_matches_patients_keyed_by_the_earlier_form_and_never_duplicates(conn, legacy):
    _as_the_earlier_version_left_it(conn, legacy)
    before = {p["id"] for p in patients(conn)}
    # what arrived since: re-invites with noise, a relative's re-invite, a nameless invite, a patient user
    legacy.invite("i-ann-3", "\u200bANN.LEE@example.org\t", "Ann\u00a0", "Lee", status="pending",
                  expires_at=FUTURE, created_at=at(10))
    legacy.invite("i-bo-2", "\ufeffbo.ek@EXAMPLE.org", "BO", "Ek", status="accepted", created_at=at(10))
    legacy.invite("i-max-2", "fam@example.org\u3000", "Max\u200d", "Sand", status="pending", expires_at=FUTURE,
                  created_at=at(11))
    legacy.invite("i-eva-nameless", "\u00a0fam@example.org", None, None, status="expired", created_at=at(12))
    legacy.user("u-bo", "Bo Ek", "bo.ek@example.org\u00a0", role="Patient", account_id="acct-a", clinician_id="clin-a")
    summary = backfill(conn, run_id="run-upgrade")
    assert {p["id"] for p in patients(conn)} == before  # nothing created: every person already has a patient
    links = invite_links(conn)
    assert all(links.values())
    assert links["i-ann-3"] == "p-ann"  # the split pair's patient with the user (then the oldest)
    assert links["i-bo-2"] == "p-bo" and links["i-max-2"] == "p-max"
    assert links["i-eva-nameless"] == "p-max"  # nameless, several persons: the most recent one, and reviewed
    assert "i-eva-nameless" in summary.plan.review_queue_invite_ids
    users = dict(conn.execute(sa.text("SELECT id, user_id FROM patients WHERE user_id IS NOT NULL")).all())
    conn.commit()
    assert users == {"p-ann": "u-ann", "p-bo": "u-bo"}
    # the earlier split is listed for review (ids only) and the gate reports exactly that pair
    review = conn.execute(sa.text(
        "SELECT entity_id, reason, patient_id FROM patient_pipeline.backfill_review_queue "
        "WHERE entity = 'patient'")).all()
    conn.commit()
    assert [tuple(r) for r in review] == [("p-ann-nbsp", "patients_share_identity_key", "p-ann")]
    assert summary.plan.review_queue_patient_ids == ["p-ann-nbsp"]
    gate = run_sql_gate(conn, "one_patient_per_identity")
    assert (gate.passed, sorted(gate.sample_ids)) == (False, ["p-ann", "p-ann-nbsp"])


def test_a_second_rerun_changes_nothing(conn, legacy):
    _as_the_earlier_version_left_it(conn, legacy)
    legacy.invite("i-ann-3", "\u200bANN.LEE@example.org\t", "Ann\u00a0", "Lee", status="pending",
                  expires_at=FUTURE, created_at=at(10))
    backfill(conn, run_id="run-upgrade")
    first = (patients(conn), invite_links(conn))
    backfill(conn, run_id="run-again")
    assert (patients(conn), invite_links(conn)) == first
