-- Gives a first-name key to invites without a usable first name, from a role-patient user (rule 3):
-- the user named by invites.user_id (strong evidence), else the user whose e-mail key (key form)
-- matches (several such users: the smallest id). Invites left without a name are resolved by
-- plan_06_nameless_invites.sql.
-- Reads: users, backfill_plan_invites. Writes: backfill_plan_invites only.
-- Safe to re-run: only touches plan rows still nameless, the plan is rebuilt per run.
WITH nameless AS (
    SELECT invite_id, email_key, inv_user_id
    FROM patient_pipeline.backfill_plan_invites
    WHERE name_key IS NULL AND disposition = 'link'
), candidates AS MATERIALIZED (
    -- the role-patient users of the nameless invites' e-mails, found before any name is parsed (the
    -- title strip is the expensive part: it runs for these few users only, once each)
    SELECT patient_pipeline.email_key(u.email) AS email_key, u.id, patient_pipeline.bf_strip_titles(u.name) AS stripped
    FROM users u
    WHERE patient_pipeline.key_form(u.role) = 'patient'
      AND patient_pipeline.email_key(u.email) IN (SELECT email_key FROM nameless)
), by_email AS (
    SELECT DISTINCT ON (c.email_key)
           c.email_key,
           patient_pipeline.bf_split_first(c.stripped) AS first_name,
           patient_pipeline.bf_split_last(c.stripped) AS last_name
    FROM candidates c
    WHERE patient_pipeline.bf_split_first(c.stripped) IS NOT NULL
    ORDER BY c.email_key, c.id
), src AS (
    SELECT n.invite_id,
           coalesce(uf.first_name, be.first_name) AS first_name,
           CASE WHEN uf.first_name IS NOT NULL THEN uf.last_name ELSE be.last_name END AS last_name
    FROM nameless n
    LEFT JOIN LATERAL (
        SELECT patient_pipeline.bf_split_first(patient_pipeline.bf_strip_titles(u.name)) AS first_name,
               patient_pipeline.bf_split_last(patient_pipeline.bf_strip_titles(u.name)) AS last_name
        FROM users u WHERE u.id = n.inv_user_id
    ) uf ON true
    LEFT JOIN by_email be ON be.email_key = n.email_key
)
UPDATE patient_pipeline.backfill_plan_invites pi
SET name_key = patient_pipeline.key_form(src.first_name),
    name_display = src.first_name,
    name_src_last = src.last_name,
    person_key = patient_pipeline.bf_person_key(pi.account_id, pi.email_key, patient_pipeline.key_form(src.first_name))
FROM src
WHERE pi.invite_id = src.invite_id AND src.first_name IS NOT NULL
