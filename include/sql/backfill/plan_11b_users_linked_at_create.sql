-- Marks the planned users link_users must walk (link_walk): those whose person is not created by this
-- plan with them (a patient that exists already, rule 8). The user of a person the plan creates is
-- written with the patient's insert (create_patients_batch.sql), so link_users runs no batch that can
-- only find nothing. Only that minority of rows is written (the plan's users are mostly created with
-- their patient). A user whose create-time link could not be made (its patient was written by the
-- application meanwhile, ON CONFLICT DO NOTHING) is found unlinked by catch_up's next plan.
-- Reads: backfill_plan_persons. Writes: backfill_plan_users.link_walk only.
-- Safe to re-run: the plan is rebuilt per run; nothing outside the plan is written.
UPDATE patient_pipeline.backfill_plan_users u
SET link_walk = true
FROM patient_pipeline.backfill_plan_persons pp
WHERE pp.person_key = u.person_key AND u.disposition = 'link' AND NOT u.link_walk
  AND NOT (pp.disposition = 'create' AND pp.user_id IS NOT DISTINCT FROM u.user_id)
