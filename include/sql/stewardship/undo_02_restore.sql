-- Undo of one import file, step 2: every field the file changed on a 'restored' patient goes back to the
-- value it had before the file (import_change_log.previous_values), updated_at included; fields the
-- file did not change are left as they are.
-- Reads: steward_undo_patient, import_change_log. Writes: patients.
UPDATE patients p
   SET external_id = CASE WHEN 'external_id' = ANY(c.changed_fields) THEN v ->> 'external_id' ELSE p.external_id END,
       email = CASE WHEN 'email' = ANY(c.changed_fields) THEN v ->> 'email' ELSE p.email END,
       first_name = CASE WHEN 'first_name' = ANY(c.changed_fields) THEN v ->> 'first_name' ELSE p.first_name END,
       last_name = CASE WHEN 'last_name' = ANY(c.changed_fields) THEN v ->> 'last_name' ELSE p.last_name END,
       phone = CASE WHEN 'phone' = ANY(c.changed_fields) THEN v ->> 'phone' ELSE p.phone END,
       date_of_birth = CASE WHEN 'date_of_birth' = ANY(c.changed_fields)
                            THEN CAST(v ->> 'date_of_birth' AS date) ELSE p.date_of_birth END,
       clinician_id = CASE WHEN 'clinician_id' = ANY(c.changed_fields) THEN v ->> 'clinician_id'
                           ELSE p.clinician_id END,
       status = CASE WHEN 'status' = ANY(c.changed_fields) AND v ? 'status' THEN v ->> 'status' ELSE p.status END,
       updated_at = CAST(v ->> 'updated_at' AS timestamp)
  FROM patient_pipeline.steward_undo_patient u
  JOIN patient_pipeline.import_change_log c
    ON c.file_id = u.file_id AND c.patient_id = u.patient_id AND c.change_kind = 'update'
 CROSS JOIN LATERAL (SELECT c.previous_values AS v) prev
 WHERE u.action_id = :action_id AND u.disposition = 'restored' AND p.id = u.patient_id
