"""The backfill on noisy legacy rows (docs/contracts/data-model.md §4 rule 3, the key form): every character class of the
key form on re-invites, relatives sharing an e-mail, nameless invites and patient users. 0 false merges, no
split, every invite linked unless it has no name anywhere, statuses right, the gates pass and the
finalization is not blocked by the noise."""

from __future__ import annotations

import sqlalchemy as sa

from include.core import alembic_driver, settings
from include.gates.sql_gates import SQL_RULES, run_sql_gate
from tests.backfill.legacy_rows import at, backfill, invite_links, patients

FUTURE = at(100_000)

#: One person (Anne-Marie Durand, acct-a) typed eleven ways: every white space, every invisible format
#: character the rule lists, a compatibility form, case and hyphen spacing. (invite id, e-mail, first name)
ANNE = [
    ("i-anne-01", "anne.durand@example.org", "Anne-Marie"),
    ("i-anne-02", "\u00a0anne.durand@example.org", "Anne - Marie"),
    ("i-anne-03", "anne.durand@example.org\u200b", "Anne-Marie\u00a0"),
    ("i-anne-04", "\tANNE.DURAND@EXAMPLE.ORG\r\n", "\u200bANNE-MARIE"),
    ("i-anne-05", "\ufeffanne.durand@example.org", "anne\u00ad-marie"),
    ("i-anne-06", "anne.durand\u200c@example.org", "Anne -Marie\t"),
    ("i-anne-07", "\u3000anne.durand@example.org\u202f", "Anne\u2060-Marie"),
    ("i-anne-08", "\u2003anne.durand@example.org\u2009", "\u2002Anne-\u200dMarie"),
    ("i-anne-09", "anne.durand@example.org\u2060", "\ufeffAnne- Marie\r\n"),
    ("i-anne-10", "ａｎｎｅ.durand@example.org", "Ａｎｎｅ-Marie"),
    ("i-anne-11", "anne.durand@exa\u00admple.org\u200d", "Anne\u3000-\u3000Marie"),
]


def _seed(legacy) -> None:
    # Anne-Marie: ten expired re-invites, then an accepted one (her user signed up with a noisy e-mail)
    for n, (inv, email, first) in enumerate(ANNE):
        legacy.invite(inv, email, first, "Durand", status="expired" if n < len(ANNE) - 1 else "Accepted\u00a0",
                      created_at=at(n))
    legacy.user("u-anne", "Anne-Marie\u00a0Durand", "\u200bAnne.Durand@Example.org ", role="Patient\u00a0",
                account_id="acct-a", clinician_id="clin-a", created_at=at(20))
    # Zoë typed with a precomposed and a combining diaeresis; one invite is nameless (joins her)
    legacy.invite("i-zoe-1", "zoe.roy@example.org", "Zo\u00eb", "Roy", status="pending", expires_at=FUTURE,
                  created_at=at(1))
    legacy.invite("i-zoe-2", "\u00a0Zoe.Roy@example.org\t", "Zoe\u0308\u200b", "Roy\u00a0", status="PENDING",
                  expires_at=FUTURE, created_at=at(2))
    legacy.invite("i-zoe-3", "zoe.roy@example.org\ufeff", "\u00a0", None, status="pending", expires_at=FUTURE,
                  created_at=at(3))
    # relatives sharing one (noisy) e-mail in acct-b: Anna and Peter stay two patients, never merged
    legacy.invite("i-fam-anna-1", "family.berg@example.net", "Anna", "Berg", clinician_id="clin-b",
                  status="expired", created_at=at(1))
    legacy.invite("i-fam-peter", "\u00a0family.berg@example.net", "Peter\u200b", "Berg", clinician_id="clin-b",
                  status="pending", expires_at=FUTURE, created_at=at(2))
    legacy.invite("i-fam-anna-2", "FAMILY.BERG@example.net\u3000", "\u200bANNA", "Berg\t", clinician_id="clin-b",
                  status="completed", created_at=at(3))
    # a nameless invite of a noisy e-mail whose patient user has a name (rule 3: the user's name)
    legacy.user("u-lee", "Dr.\u00a0Sam\u00a0Lee", "sam.lee@example.com", role="PATIENT", account_id="acct-a",
                clinician_id="clin-a", created_at=at(4))
    legacy.invite("i-lee", "\u200bSam.Lee@example.com\u00a0", None, None, status="accepted", created_at=at(3))
    # a patient user without any invite, with noise everywhere: gets a patient of its own
    legacy.user("u-solo", "\ufeffIda\u2003Kay\u00a0", "\u00a0ida.kay@example.com\u200b", role=" patient\u200b",
                account_id="acct-b", clinician_id="clin-b", created_at=at(5))
    legacy.chat("c-solo", "u-solo")
    legacy.chat("c-anne", "u-anne")


def test_noise_never_splits_a_person_and_never_merges_relatives(conn, legacy):
    _seed(legacy)
    backfill(conn)
    links = invite_links(conn)
    assert all(links.values()), "every invite is linked (each has a name somewhere)"
    anne = {links[i] for i, _, _ in ANNE}
    assert len(anne) == 1  # no split: eleven noisy spellings are one person
    assert links["i-zoe-1"] == links["i-zoe-2"] == links["i-zoe-3"]
    assert links["i-fam-anna-1"] == links["i-fam-anna-2"] != links["i-fam-peter"]  # no false merge
    rows = {p["id"]: p for p in patients(conn)}
    assert len(rows) == 6  # Anne-Marie, Zoë, Anna, Peter, Sam Lee, Ida Kay
    a = rows[anne.pop()]
    # stored values keep what was typed (the most recent invite's), trimmed of the same characters
    assert (a["email"], a["first_name"], a["last_name"], a["status"], a["user_id"]) == (
        "anne.durand@exa\u00admple.org", "Anne\u3000-\u3000Marie", "Durand", "active", "u-anne")
    z = rows[links["i-zoe-1"]]
    assert (z["email"], z["first_name"], z["last_name"], z["status"]) == (
        "zoe.roy@example.org", "Zoe\u0308", "Roy", "pending")  # e-mail of the most recent invite (nameless)
    assert rows[links["i-fam-anna-1"]]["status"] == "active"
    assert (rows[links["i-fam-peter"]]["first_name"], rows[links["i-fam-peter"]]["status"]) == ("Peter", "pending")
    lee = rows[links["i-lee"]]
    assert (lee["first_name"], lee["last_name"], lee["user_id"], lee["status"]) == ("Sam", "Lee", "u-lee", "active")
    (ida,) = [p for p in rows.values() if p["user_id"] == "u-solo"]
    assert (ida["first_name"], ida["last_name"], ida["email"], ida["status"], ida["account_id"]) == (
        "Ida", "Kay", "ida.kay@example.com", "active", "acct-b")
    chats = dict(conn.execute(sa.text("SELECT id, patient_id FROM chat_sessions")).all())
    conn.commit()
    assert chats == {"c-solo": ida["id"], "c-anne": a["id"]}


def test_noise_does_not_block_the_gates_or_the_finalization(conn, legacy):
    _seed(legacy)
    result = backfill(conn)
    assert result.complete
    failed = [r for r in SQL_RULES if not run_sql_gate(conn, r).passed]
    assert failed == []
    alembic_driver.upgrade(conn, settings.REV_FINALIZE_INVITES)
    assert alembic_driver.current_revision(conn) == settings.REV_FINALIZE_INVITES


def test_a_rerun_on_noisy_rows_creates_nothing_new(conn, legacy):
    _seed(legacy)
    backfill(conn)
    before = patients(conn)
    legacy.invite("i-anne-12", "\u200banne.durand@EXAMPLE.org\u00a0", "ANNE - MARIE\u00ad", "Durand",
                  status="pending", expires_at=FUTURE, created_at=at(30))
    backfill(conn, run_id="run-2")
    assert [p["id"] for p in patients(conn)] == [p["id"] for p in before]
    links = invite_links(conn)
    assert links["i-anne-12"] == links["i-anne-01"]


def test_an_invite_with_no_name_anywhere_is_quarantined_even_with_noise(conn, legacy):
    legacy.invite("i-nobody", "\u00a0nobody@example.org\u200b", "\u200b\u00a0", "\t", status="pending")
    summary = backfill(conn)
    assert invite_links(conn) == {"i-nobody": None}
    assert summary.plan.quarantined_invite_ids == ["i-nobody"]
    assert patients(conn) == []
