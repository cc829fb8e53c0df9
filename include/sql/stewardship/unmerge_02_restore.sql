-- Unmerge step 2 (run for :side = 'survivor', then 'merged': unique keys move back in that order): one
-- patient row gets every column back exactly as recorded before the merge (updated_at included).
-- Reads: steward_merge. Writes: patients (one row).
UPDATE patients p
   SET account_id = r.account_id, clinician_id = r.clinician_id, external_id = r.external_id,
       email = r.email, first_name = r.first_name, last_name = r.last_name, phone = r.phone,
       date_of_birth = r.date_of_birth, status = r.status, notes = r.notes, user_id = r.user_id,
       created_at = r.created_at, updated_at = r.updated_at
  FROM patient_pipeline.steward_merge sm
 CROSS JOIN LATERAL jsonb_populate_record(
       NULL::patients, CASE WHEN :side = 'survivor' THEN sm.survivor_before ELSE sm.merged_before END) r
 WHERE sm.action_id = :merge_action_id AND p.id = r.id
