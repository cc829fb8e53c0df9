-- Marks the planned users that create_patients links itself (linked_at_create): the user of a person
-- the plan creates is written with the patient's insert (create_patients_batch.sql), so link_users
-- walks only the users of patients that exist already (rule 8) and runs no batch that can only find
-- nothing. A user whose create-time link could not be made (its patient was written by the
-- application meanwhile, ON CONFLICT DO NOTHING) is found unlinked by catch_up's next plan.
-- Reads: backfill_plan_persons. Writes: backfill_plan_users.linked_at_create only.
-- Safe to re-run: the plan is rebuilt per run; nothing outside the plan is written.
UPDATE patient_pipeline.backfill_plan_users u
SET linked_at_create = true
FROM patient_pipeline.backfill_plan_persons pp
WHERE pp.person_key = u.person_key AND pp.disposition = 'create' AND pp.user_id = u.user_id
  AND u.disposition = 'link' AND NOT u.linked_at_create
