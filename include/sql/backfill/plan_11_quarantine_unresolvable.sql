-- Marks what cannot be linked (rule 7): invites with no name anywhere (no candidate person) and
-- invites and users of persons without a usable first or last name -> quarantine missing_name.
-- Reads/writes: the plan tables only.
-- Safe to re-run: the plan is rebuilt per run; nothing outside the plan is written.
WITH q_persons AS (
    SELECT person_key FROM patient_pipeline.backfill_plan_persons WHERE disposition = 'quarantine'
), q_users AS (
    UPDATE patient_pipeline.backfill_plan_users u
    SET disposition = 'quarantine', reason = 'missing_name'
    WHERE u.disposition = 'link' AND u.person_key IN (SELECT person_key FROM q_persons)
    RETURNING u.user_id
)
UPDATE patient_pipeline.backfill_plan_invites pi
SET disposition = 'quarantine', reason = 'missing_name'
WHERE pi.disposition = 'link'
  AND (pi.person_key IS NULL OR pi.person_key IN (SELECT person_key FROM q_persons))
