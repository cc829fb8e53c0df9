-- Produces backfill_plan_users: every role-patient user (key_form(role) = 'patient') that no
-- patient points to yet, with its split name (titles removed), own account, its clinician's account,
-- and its patient_profiles DOB (date part) and phone; e-mail and first-name keys in the key form (rule 3).
-- Accounts that do not exist count as unresolved.
-- :lo and :hi (tids) bound the slice of the users heap this statement reads (see plan_02_invites).
-- Reads: users, accounts, patient_profiles, patients. Writes: the plan table only.
-- Safe to re-run: the plan tables are truncated first; already linked users are skipped.
INSERT INTO patient_pipeline.backfill_plan_users (
    user_id, email_key, email_trimmed, first_key, first_name, last_name, own_account_id,
    clinician_account_id, clinician_id, date_of_birth, phone, created_at)
SELECT u.id,
       patient_pipeline.email_key(u.email),
       patient_pipeline.trim_noise(u.email),
       patient_pipeline.key_form(n.first_name),
       n.first_name,
       n.last_name,
       oa.id,
       ca.id,
       c.id,
       pp.date_of_birth::date,
       NULLIF(patient_pipeline.trim_noise(pp.phone_number), ''),
       u.created_at
FROM users u
-- OFFSET 0 keeps each lateral from being flattened, so the title strip runs once per user
CROSS JOIN LATERAL (SELECT patient_pipeline.bf_strip_titles(u.name) AS full_name OFFSET 0) s
CROSS JOIN LATERAL (SELECT patient_pipeline.bf_split_first(s.full_name) AS first_name,
                           patient_pipeline.bf_split_last(s.full_name) AS last_name OFFSET 0) n
LEFT JOIN accounts oa ON oa.id = u.account_id
LEFT JOIN users c ON c.id = u.clinician_id
LEFT JOIN accounts ca ON ca.id = c.account_id
LEFT JOIN patient_profiles pp ON pp.user_id = u.id
WHERE patient_pipeline.key_form(u.role) = 'patient'
  AND patient_pipeline.email_key(u.email) <> ''
  AND NOT EXISTS (SELECT 1 FROM patients p WHERE p.user_id = u.id)
  AND u.ctid >= CAST(:lo AS tid) AND u.ctid < CAST(:hi AS tid)
