-- Matches role-patient users to persons (rule 5). A person qualifies for a user when an invite of the
-- person names the user (invites.user_id, strong evidence), or when the e-mail keys match and either
-- the first-name keys agree or the person is the only one of its (account, e-mail) group. Persons
-- that already have a user do not qualify. Each user takes its best person: strong evidence, then
-- agreeing first name, then a person with an accepted invite, then one in the user's own account,
-- then in its clinician's account, then the smallest person key. Each person keeps its best user
-- (strong evidence, agreeing name, smallest user id); users left without a person get their own
-- person in plan_09.
-- Reads: plan tables. Writes: backfill_plan_users.person_key and backfill_plan_persons.user_id.
-- Safe to re-run: the plan is rebuilt per run; nothing outside the plan is written.
WITH persons AS (
    SELECT pp.person_key, pp.account_id, pp.email_key, pp.name_key, pp.has_accepted, pp.existing_user_id,
           count(*) OVER (PARTITION BY pp.account_id, pp.email_key) AS group_size
    FROM patient_pipeline.backfill_plan_persons pp
    WHERE pp.email_key IN (SELECT email_key FROM patient_pipeline.backfill_plan_users)
), strong AS (
    SELECT DISTINCT inv_user_id AS user_id, person_key
    FROM patient_pipeline.backfill_plan_invites
    WHERE inv_user_id IS NOT NULL AND person_key IS NOT NULL AND disposition = 'link'
), cand AS (
    SELECT u.user_id, pp.person_key, false AS strong, pp.name_key = u.first_key AS name_agrees,
           pp.has_accepted, pp.account_id IS NOT DISTINCT FROM u.own_account_id AS own_account,
           pp.account_id IS NOT DISTINCT FROM u.clinician_account_id AS clinician_account
    FROM patient_pipeline.backfill_plan_users u
    JOIN persons pp ON pp.email_key = u.email_key
    WHERE pp.existing_user_id IS NULL AND (pp.name_key = u.first_key OR pp.group_size = 1)
    UNION ALL
    SELECT u.user_id, pp.person_key, true, pp.name_key = u.first_key, pp.has_accepted,
           pp.account_id IS NOT DISTINCT FROM u.own_account_id,
           pp.account_id IS NOT DISTINCT FROM u.clinician_account_id
    FROM strong s
    JOIN patient_pipeline.backfill_plan_users u ON u.user_id = s.user_id
    JOIN patient_pipeline.backfill_plan_persons pp ON pp.person_key = s.person_key
    WHERE pp.existing_user_id IS NULL
), best_person AS (
    SELECT DISTINCT ON (user_id) *
    FROM cand
    ORDER BY user_id, strong DESC, name_agrees DESC NULLS LAST, has_accepted DESC, own_account DESC,
             clinician_account DESC, person_key
), best_user AS (
    SELECT DISTINCT ON (person_key) person_key, user_id
    FROM best_person
    ORDER BY person_key, strong DESC, name_agrees DESC NULLS LAST, user_id
), set_users AS (
    UPDATE patient_pipeline.backfill_plan_users u
    SET person_key = b.person_key
    FROM best_user b
    WHERE u.user_id = b.user_id
    RETURNING u.user_id, u.person_key
)
UPDATE patient_pipeline.backfill_plan_persons pp
SET user_id = s.user_id
FROM set_users s
WHERE pp.person_key = s.person_key
