-- Produces the planned persons (rule 3): one per distinct identity key (account, e-mail key,
-- first-name key) of the linkable invites. A person whose key an existing patient already carries is
-- that patient (rule 8: its id is reused, nothing is created); otherwise its id is derived from the
-- key (bf_patient_id), so a rerun after a crash yields the same ids.
-- Reads: backfill_plan_invites. Writes: backfill_plan_persons only.
-- Safe to re-run: the plan is rebuilt per run; nothing outside the plan is written.
INSERT INTO patient_pipeline.backfill_plan_persons AS pp (
    person_key, account_id, email_key, name_key, source, patient_id, has_accepted, disposition)
SELECT person_key, account_id, email_key, name_key, 'invite',
       patient_pipeline.bf_patient_id(person_key),
       coalesce(bool_or(status_norm IN ('accepted', 'completed')), false),
       'create'
FROM patient_pipeline.backfill_plan_invites
WHERE person_key IS NOT NULL AND disposition = 'link'
GROUP BY person_key, account_id, email_key, name_key
-- in primary-key order: the index grows at its right edge and the batches read the table in order
ORDER BY person_key
ON CONFLICT (person_key) DO UPDATE
SET source = 'invite',
    has_accepted = pp.has_accepted OR EXCLUDED.has_accepted,
    disposition = 'matched'
