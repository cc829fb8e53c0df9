"""Every messy case of docs/contracts/data-model.md is in a small seeded database, proven with SQL."""

from __future__ import annotations

from seed_helpers import MISSING_NAMES, Seeded

KEY = "patient_pipeline.email_key(i.email)"  # the key form (docs/contracts/data-model.md §4 rule 3)
ACCOUNT = "c.account_id"
INVITES_WITH_ACCOUNT = "invites i LEFT JOIN users c ON c.id = i.clinician_id"


def test_emails_and_first_names_carry_web_form_noise(seeded: Seeded):
    """docs/contracts/data-model.md §4 rule 3: NBSP, zero-width and other invisible characters, tabs, CR/LF around and inside
    e-mails and first names (the same person in the key form, a different one under lower(btrim()))."""
    noisy = r"~ '[\u00a0\u200b-\u200d\u2060\ufeff\u00ad\u2000-\u200a\u202f\u3000\t\r\n]'"
    assert seeded.scalar(f"SELECT count(*) FROM invites WHERE email {noisy}") > 0
    assert seeded.scalar(f"SELECT count(*) FROM invites WHERE first_name {noisy}") > 0
    for char in ("\u00a0", "\u200b", "\ufeff", "\t"):
        assert seeded.scalar(f"SELECT count(*) FROM invites WHERE strpos(email, E'{char}') > 0") > 0
        assert seeded.scalar(f"SELECT count(*) FROM invites WHERE strpos(first_name, E'{char}') > 0") > 0
    # the noise changes the old key but never the key form: each noisy e-mail repeats a clean one's person
    assert seeded.scalar(f"""SELECT count(*) FROM invites i WHERE i.email {noisy}
                             AND lower(btrim(i.email)) <> {KEY}""") > 0
    assert seeded.summary.cases["email_noise_variant"] > 0
    assert sum(n for c, n in seeded.summary.cases.items() if c.startswith("first_name_noise.")) > 0


def test_emails_vary_in_case_and_surrounding_spaces(seeded: Seeded):
    assert seeded.scalar("SELECT count(*) FROM invites WHERE email <> btrim(email)") > 0
    assert seeded.scalar("SELECT count(*) FROM invites WHERE email = btrim(email) AND email <> lower(email)") > 0


def test_reinvite_chains_hold_revoked_and_expired_invites_of_one_person(seeded: Seeded):
    chains = seeded.scalar(f"""
        SELECT count(*) FROM (
            SELECT {KEY}, patient_pipeline.key_form(i.first_name) FROM invites i WHERE i.first_name IS NOT NULL
            GROUP BY 1, 2, i.clinician_id
            HAVING count(*) >= 2 AND bool_or(lower(i.status) = 'revoked') AND bool_or(lower(i.status) = 'expired')
        ) g""")
    assert chains > 0


def test_same_person_invited_by_two_clinicians_of_one_account(seeded: Seeded):
    assert seeded.scalar(f"""
        SELECT count(*) FROM (
            SELECT 1 FROM {INVITES_WITH_ACCOUNT} WHERE i.first_name IS NOT NULL AND {ACCOUNT} IS NOT NULL
            GROUP BY {KEY}, patient_pipeline.key_form(i.first_name), {ACCOUNT} HAVING count(DISTINCT i.clinician_id) > 1
        ) g""") > 0


def test_same_email_invited_in_two_accounts(seeded: Seeded):
    assert seeded.scalar(f"""
        SELECT count(*) FROM (
            SELECT 1 FROM {INVITES_WITH_ACCOUNT} GROUP BY {KEY} HAVING count(DISTINCT {ACCOUNT}) > 1
        ) g""") > 0


def test_relatives_share_an_email_and_at_most_one_of_them_has_a_user(seeded: Seeded):
    assert seeded.scalar(f"""
        SELECT count(*) FROM (
            SELECT 1 FROM invites i GROUP BY {KEY} HAVING count(DISTINCT patient_pipeline.key_form(i.first_name)) > 1
        ) g""") > 0
    assert seeded.scalar("SELECT count(*) FROM (SELECT 1 FROM users GROUP BY lower(email) HAVING count(*) > 1) g") == 0


def test_nameless_invites_with_and_without_a_matching_user(seeded: Seeded):
    with_user = f"""SELECT count(*) FROM invites i WHERE i.first_name IS NULL AND i.last_name IS NULL
                    AND EXISTS (SELECT 1 FROM users u WHERE patient_pipeline.email_key(u.email) = {KEY})"""
    assert seeded.scalar(with_user) > 0
    named_sibling = f"""SELECT count(*) FROM invites i WHERE i.first_name IS NULL
                        AND NOT EXISTS (SELECT 1 FROM users u WHERE patient_pipeline.email_key(u.email) = {KEY})
                        AND EXISTS (SELECT 1 FROM invites j WHERE patient_pipeline.email_key(j.email) = {KEY}
                                    AND j.first_name IS NOT NULL)"""
    assert seeded.scalar(named_sibling) > 0


def test_missing_name_persons_only_as_many_as_requested(seeded: Seeded):
    missing = f"""SELECT count(*) FROM invites i WHERE i.first_name IS NULL
                  AND NOT EXISTS (SELECT 1 FROM users u WHERE patient_pipeline.email_key(u.email) = {KEY})
                  AND NOT EXISTS (SELECT 1 FROM invites j WHERE patient_pipeline.email_key(j.email) = {KEY}
                                  AND j.first_name IS NOT NULL)"""
    assert seeded.scalar(missing) == MISSING_NAMES == seeded.summary.cases["missing_name_invites"]


def test_patient_users_without_any_invite(seeded: Seeded):
    assert seeded.scalar("""SELECT count(*) FROM users u WHERE lower(u.role) = 'patient'
                            AND NOT EXISTS (SELECT 1 FROM invites i WHERE patient_pipeline.email_key(i.email) = patient_pipeline.email_key(u.email))""") \
        == seeded.summary.cases["patient_users_without_invite"] > 0


def test_user_names_carry_titles_and_several_tokens(seeded: Seeded):
    assert seeded.scalar("""SELECT count(*) FROM users WHERE lower(role) = 'patient'
                            AND name ~ '^(Dr|Mrs|Mr|Ms|Prof)\\. |^Miss '""") > 0
    assert seeded.scalar("""SELECT count(*) FROM users WHERE lower(role) = 'patient'
        AND array_length(regexp_split_to_array(regexp_replace(name, '^(Dr\\.|Mrs\\.|Mr\\.|Ms\\.|Prof\\.|Miss) ', ''),
                                               ' '), 1) > 2""") > 0


def test_profiles_have_timestamp_dobs_and_heterogeneous_phones(seeded: Seeded):
    assert seeded.scalar("SELECT count(*) FROM patient_profiles WHERE date_of_birth::time <> '00:00'") > 0
    assert seeded.scalar("SELECT count(*) FROM patient_profiles WHERE date_of_birth::time = '00:00'") > 0
    shapes = seeded.scalar("""SELECT count(DISTINCT regexp_replace(phone_number, '[0-9]', '9', 'g'))
                              FROM patient_profiles""")
    assert shapes >= 6


def test_invites_whose_account_cannot_be_resolved(seeded: Seeded):
    assert seeded.scalar("SELECT count(*) FROM invites WHERE clinician_id IS NULL") > 0
    assert seeded.scalar("""SELECT count(*) FROM invites i JOIN users c ON c.id = i.clinician_id
                            WHERE c.account_id IS NULL""") > 0


def test_roles_and_statuses_in_mixed_case(seeded: Seeded):
    roles = set(seeded.column("SELECT DISTINCT role FROM users"))
    assert {"patient", "PATIENT", "Patient", "clinician"} <= roles
    statuses = set(seeded.column("SELECT DISTINCT status FROM invites"))
    assert {"accepted", "Accepted", "ACCEPTED", "completed", None, "pending", "expired", "revoked"} <= statuses


def test_accepted_invites_with_and_without_user_id(seeded: Seeded):
    accepted = "lower(i.status) IN ('accepted', 'completed')"
    assert seeded.scalar(f"SELECT count(*) FROM invites i WHERE {accepted} AND i.user_id IS NOT NULL") > 0
    assert seeded.scalar(f"""SELECT count(*) FROM invites i JOIN users u ON patient_pipeline.email_key(u.email) = {KEY}
                             WHERE {accepted} AND i.user_id IS NULL AND u.email <> btrim(i.email)""") > 0
    # legacy acceptance semantics: every accepted invite has its patient user (same e-mail, any case)
    assert seeded.scalar(f"""SELECT count(*) FROM invites i WHERE {accepted}
                             AND NOT EXISTS (SELECT 1 FROM users u WHERE patient_pipeline.email_key(u.email) = {KEY}
                                             AND lower(u.role) = 'patient')""") == 0
    assert seeded.scalar("""SELECT count(*) FROM invites i JOIN users u ON u.id = i.user_id
                            WHERE patient_pipeline.email_key(u.email) <> patient_pipeline.email_key(i.email)""") == 0


def test_non_uuid_ids_exist_next_to_uuids(seeded: Seeded):
    uuid = "'^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$'"
    non_uuid = seeded.scalar(f"""SELECT (SELECT count(*) FROM users WHERE id !~ {uuid})
                                      + (SELECT count(*) FROM accounts WHERE id !~ {uuid})
                                      + (SELECT count(*) FROM invites WHERE id !~ {uuid})""")
    assert non_uuid == seeded.summary.cases["non_uuid_ids"] > 0
    assert seeded.scalar("SELECT count(*) FROM users WHERE id = 'clinician-001'") == 1


def test_pending_invites_both_open_and_expired_relative_to_now(seeded: Seeded):
    pending = "lower(status) = 'pending'"
    assert seeded.scalar(f"SELECT count(*) FROM invites WHERE {pending} AND expires_at > now()") > 0
    assert seeded.scalar(f"SELECT count(*) FROM invites WHERE {pending} AND expires_at < now()") > 0


def test_chat_sessions_belong_to_patient_users_and_hold_messages(seeded: Seeded):
    assert seeded.scalar("""SELECT count(*) FROM chat_sessions s JOIN users u ON u.id = s.user_id
                            WHERE lower(u.role) <> 'patient'""") == 0
    assert seeded.scalar("""SELECT count(DISTINCT s.role) FROM chat_sessions c
                            JOIN users s ON s.id = c.user_id""") >= 2  # 'patient' and another case
    assert seeded.scalar("SELECT count(DISTINCT session_id) FROM chat_messages") \
        == seeded.summary.cases["chat_sessions_with_messages"] > 0
