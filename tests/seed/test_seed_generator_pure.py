"""The pure generator layer: deterministic, FK-complete, realistic mix, no database needed."""

from __future__ import annotations

import hashlib
import re
from datetime import timedelta

import pytest

from include.seed import COLUMNS, OPEN_EXPIRY_REFERENCE, REFERENCE_TIME, TABLES, LegacyGenerator, SeedParameterError
from include.seed.generator import HISTORY_DAYS

#: Every messy case of docs/contracts/data-model.md, as the summary names it (missing_name only on request).
REQUIRED_CASES = (
    "email_case_variant", "email_space_variant", "invites_repeating_earlier_person", "reinvite_chains",
    "chain_revoked_invites", "chain_expired_invites", "same_person_multiple_clinicians",
    "same_email_multiple_accounts", "relatives_sharing_email", "nameless_invites_with_user",
    "nameless_invites_without_user", "patient_users_without_invite", "users_name_with_title",
    "users_name_multi_token", "profiles_dob_with_time", "invites_clinician_null",
    "invites_clinician_without_account", "users_role_case_variant", "invite_status.Accepted",
    "invite_status.ACCEPTED", "invite_status.completed", "invite_status.NULL", "invite_status.accepted",
    "invite_status.pending", "invite_status.expired", "invite_status.revoked", "pending_open", "pending_expired",
    "accepted_invites_user_id_null", "accepted_invites_user_id_set", "accepted_user_email_case_differs",
    "non_uuid_ids", "chat_sessions_with_messages", "patient_users_account_null",
)


def digest(invites: int, seed: int, **kwargs) -> dict[str, str]:
    """sha256 of each table's rows in generation order."""
    gen = LegacyGenerator(invites, seed, **kwargs)
    hashes = {t: hashlib.sha256() for t in TABLES}
    for chunk in gen.chunks():
        for table in TABLES:
            for row in chunk.rows(table):
                hashes[table].update(repr(row).encode())
    return {t: h.hexdigest() for t, h in hashes.items()}


def all_rows(invites: int, seed: int = 42, **kwargs) -> tuple[LegacyGenerator, dict[str, list[tuple]]]:
    gen = LegacyGenerator(invites, seed, **kwargs)
    rows: dict[str, list[tuple]] = {t: [] for t in TABLES}
    for chunk in gen.chunks():
        for t in TABLES:
            rows[t].extend(chunk.rows(t))
    return gen, rows


def test_same_seed_and_size_give_identical_rows_whatever_the_chunk_size():
    a = digest(3000, 42)
    assert a == digest(3000, 42)
    assert a == digest(3000, 42, chunk_invites=250)
    assert a["invites"] != digest(3000, 43)["invites"]


@pytest.mark.parametrize("seed", [42, 1, 2024])
def test_every_messy_case_appears_at_200_invites(seed):
    gen, _ = all_rows(200, seed)
    missing = [c for c in REQUIRED_CASES if not gen.summary.cases.get(c)]
    assert missing == []
    assert "missing_name_invites" not in gen.summary.cases  # only on request


def test_missing_names_only_when_asked():
    gen, _ = all_rows(300, 42, missing_names=3)
    assert gen.summary.cases["missing_name_invites"] == 3
    with pytest.raises(SeedParameterError):
        LegacyGenerator(100, 42, missing_names=50)


def test_exactly_n_invites_and_summary_counts_match_the_rows():
    gen, rows = all_rows(1234, 9)
    assert len(rows["invites"]) == 1234
    assert gen.summary.table_counts() == {t: len(r) for t, r in rows.items()}


def test_rows_fit_the_legacy_columns_and_ids_are_mostly_uuids():
    _, rows = all_rows(2000, 5)
    uuid_re = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$")
    for table in TABLES:
        assert all(len(r) == len(COLUMNS[table]) for r in rows[table])
        ids = [r[0] for r in rows[table]]
        assert len(ids) == len(set(ids)) and all(len(i) <= 36 for i in ids)
    ids = [r[0] for t in TABLES for r in rows[t]]
    non_uuid = [i for i in ids if not uuid_re.match(i)]
    assert 0 < len(non_uuid) < 0.05 * len(ids)
    assert all(p[4] is None or len(p[4]) <= 20 for p in rows["patient_profiles"])
    assert all(i[4] is None or len(i[4]) <= 32 for i in rows["invites"])
    emails = [u[2] for u in rows["users"]]
    assert len(emails) == len(set(emails))


def test_rows_reference_only_rows_generated_before_them():
    _, rows = all_rows(2000, 11)
    users = {u[0]: u for u in rows["users"]}
    sessions = {s[0] for s in rows["chat_sessions"]}
    assert all(i[6] is None or i[6] in users for i in rows["invites"])
    assert all(i[7] is None or i[7] in users for i in rows["invites"])
    assert all(p[1] in users for p in rows["patient_profiles"])
    assert all(users[s[1]][3].lower() == "patient" for s in rows["chat_sessions"])
    assert all(m[1] in sessions for m in rows["chat_messages"])


def test_realistic_mix_at_20k_invites():
    gen, rows = all_rows(20_000, 42)
    s, n = gen.summary, 20_000
    assert 0.12 <= s.cases["invites_repeating_earlier_person"] / n <= 0.18
    assert 0.45 <= s.chat_sessions / n <= 0.55
    statuses = {}
    for inv in rows["invites"]:
        key = (inv[8] or "NULL").lower()
        statuses[key] = statuses.get(key, 0) + 1
    assert 0.25 < (statuses["accepted"] + statuses["completed"]) / n < 0.55
    assert statuses["pending"] > 0.1 * n and statuses["expired"] > 0.1 * n and statuses["revoked"] > 0.02 * n
    assert len({i[6] for i in rows["invites"]}) > 10 and s.accounts >= 4


def test_timestamps_are_anchored_to_the_reference_not_to_the_clock():
    _, rows = all_rows(2000, 3)
    start = REFERENCE_TIME - timedelta(days=HISTORY_DAYS)
    for inv in rows["invites"]:
        assert start <= inv[11] < REFERENCE_TIME
    open_expiries = [i[13] for i in rows["invites"] if i[13] and i[13] > REFERENCE_TIME]
    assert open_expiries and all(
        OPEN_EXPIRY_REFERENCE - timedelta(days=366) <= e <= OPEN_EXPIRY_REFERENCE for e in open_expiries)
    assert all(s[6] <= REFERENCE_TIME for s in rows["chat_sessions"])
