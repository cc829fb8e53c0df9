-- Adds the patients that already exist (written by the application meanwhile, by an import, or by an
-- earlier run) to backfill_plan_persons for every e-mail key the plan touches (rule 8: matched, never
-- duplicated). They are candidates for nameless invites and for users, and a planned person whose
-- identity key they carry reuses their id.
-- Reads: patients, invites (accepted status of their linked invites), plan tables.
-- Writes: backfill_plan_persons only.
-- Safe to re-run: the plan is rebuilt per run; nothing outside the plan is written.
INSERT INTO patient_pipeline.backfill_plan_persons (
    person_key, account_id, email_key, name_key, source, existing_patient_id, existing_user_id,
    patient_id, has_accepted, disposition)
SELECT patient_pipeline.bf_person_key(p.account_id, lower(btrim(p.email)), lower(btrim(p.first_name))),
       p.account_id,
       lower(btrim(p.email)),
       lower(btrim(p.first_name)),
       'existing',
       p.id,
       p.user_id,
       p.id,
       EXISTS (SELECT 1 FROM invites i
               WHERE i.patient_id = p.id AND lower(btrim(i.status)) IN ('accepted', 'completed')),
       'context'
FROM patients p
WHERE p.email IS NOT NULL
  AND lower(btrim(p.email)) IN (
      SELECT email_key FROM patient_pipeline.backfill_plan_invites WHERE disposition = 'link'
      UNION
      SELECT email_key FROM patient_pipeline.backfill_plan_users)
ON CONFLICT (person_key) DO NOTHING
