-- Gives each role-patient user left without a person its own person (rules 1 and 5): identity key
-- (its own account, else its clinician's account; e-mail key; first-name key). When a person with
-- that key already exists and has no user, the user takes it. A user without a usable first and last
-- name is quarantined (missing_name); a user whose own key is a person taken by another user, or
-- shared with another unmatched user (the smaller id wins), goes to the review queue
-- (user_identity_taken) and stays unlinked.
-- Reads: plan tables. Writes: backfill_plan_persons (new rows, user_id), backfill_plan_users.
-- Safe to re-run: the plan is rebuilt per run; nothing outside the plan is written.
WITH unmatched AS (
    SELECT u.*, patient_pipeline.bf_person_key(coalesce(u.own_account_id, u.clinician_account_id),
                                               u.email_key, u.first_key) AS own_key
    FROM patient_pipeline.backfill_plan_users u
    WHERE u.person_key IS NULL AND u.first_key IS NOT NULL AND u.last_name IS NOT NULL
), winners AS (
    SELECT DISTINCT ON (un.own_key) un.*, (pp.person_key IS NOT NULL) AS person_exists
    FROM unmatched un
    LEFT JOIN patient_pipeline.backfill_plan_persons pp ON pp.person_key = un.own_key
    WHERE pp.person_key IS NULL OR (pp.user_id IS NULL AND pp.existing_user_id IS NULL)
    ORDER BY un.own_key, un.user_id
), new_persons AS (
    INSERT INTO patient_pipeline.backfill_plan_persons (
        person_key, account_id, email_key, name_key, source, patient_id, user_id, disposition)
    SELECT own_key, coalesce(own_account_id, clinician_account_id), email_key, first_key, 'user',
           patient_pipeline.bf_patient_id(own_key), user_id, 'create'
    FROM winners
    WHERE NOT person_exists
    RETURNING person_key, user_id
), taken_over AS (
    UPDATE patient_pipeline.backfill_plan_persons pp
    SET user_id = w.user_id
    FROM winners w
    WHERE w.person_exists AND pp.person_key = w.own_key
    RETURNING pp.person_key, pp.user_id
), placed AS (
    SELECT * FROM new_persons UNION ALL SELECT * FROM taken_over
)
UPDATE patient_pipeline.backfill_plan_users u
SET person_key = pl.person_key,
    disposition = CASE WHEN pl.user_id IS NOT NULL THEN 'link'
                       WHEN u.first_key IS NULL OR u.last_name IS NULL THEN 'quarantine'
                       ELSE 'review' END,
    reason = CASE WHEN pl.user_id IS NOT NULL THEN NULL
                  WHEN u.first_key IS NULL OR u.last_name IS NULL THEN 'missing_name'
                  ELSE 'user_identity_taken' END
FROM patient_pipeline.backfill_plan_users u2
LEFT JOIN placed pl ON pl.user_id = u2.user_id
WHERE u.user_id = u2.user_id AND u2.person_key IS NULL
