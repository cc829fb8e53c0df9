-- Produces backfill_plan_invites: one row per invite still unlinked (invites.patient_id IS NULL),
-- with its account (rule 2: the clinician's users.account_id, NULL = unresolved-account bucket, also
-- when that account row does not exist), e-mail key and first-name key (rule 3: the key form,
-- patient_pipeline.email_key / key_form), and the attributes rule 4 chooses from, trimmed of white space
-- and invisible format characters (trim_noise). An e-mail that is blank or noise only cannot form an
-- identity key: quarantined as missing_email. Statuses are compared in the key form too.
-- walk_key (bf_walk_key: the invite's heap block at plan time, then its id) orders link_invites' walk
-- in heap order. :lo and :hi (tids) bound the slice of the invites heap this statement reads: the
-- planner runs several slices side by side on one exported snapshot (planner.py); one slice
-- '(0,0)'..'(4294967295,0)' is the whole table.
-- Reads: invites, users, accounts. Writes: the plan table only.
-- Safe to re-run: the plan tables are truncated first; already linked invites are skipped.
INSERT INTO patient_pipeline.backfill_plan_invites (
    invite_id, account_id, email_key, name_key, name_display, person_key, inv_user_id, email_trimmed,
    first_name, last_name, phone, clinician_id, status_norm, expires_at, created_at, revoked,
    disposition, reason, walk_key)
SELECT i.id,
       a.id,
       k.email_key,
       kn.name_key,
       k.first_name,
       CASE WHEN k.first_name IS NOT NULL AND k.email_key <> ''
            THEN patient_pipeline.bf_person_key(a.id, k.email_key, kn.name_key) END,
       pu.id,
       patient_pipeline.trim_noise(i.email),
       k.first_name,
       patient_pipeline.bf_usable_name(i.last_name),
       NULLIF(patient_pipeline.trim_noise(i.phone), ''),
       i.clinician_id,
       k.status_key,
       i.expires_at,
       i.created_at,
       coalesce(k.status_key = 'revoked', false),
       CASE WHEN k.email_key = '' THEN 'quarantine' ELSE 'link' END,
       CASE WHEN k.email_key = '' THEN 'missing_email' END,
       patient_pipeline.bf_walk_key(i.ctid, i.id)
FROM invites i
-- OFFSET 0 keeps the lateral from being flattened, so each key is computed once per invite (not once
-- per use below)
CROSS JOIN LATERAL (
    SELECT patient_pipeline.email_key(i.email) AS email_key, patient_pipeline.bf_usable_name(i.first_name) AS first_name,
           patient_pipeline.key_form(i.status) AS status_key
    OFFSET 0
) k
CROSS JOIN LATERAL (SELECT patient_pipeline.key_form(k.first_name) AS name_key OFFSET 0) kn
LEFT JOIN users c ON c.id = i.clinician_id
LEFT JOIN accounts a ON a.id = c.account_id
LEFT JOIN users pu ON pu.id = i.user_id AND patient_pipeline.key_form(pu.role) = 'patient'
WHERE i.patient_id IS NULL
  AND i.ctid >= CAST(:lo AS tid) AND i.ctid < CAST(:hi AS tid)
