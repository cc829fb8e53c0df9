-- Undo of one import file, step 3: delete the patients the file created that step 1 found unlinked and
-- unchanged (their rows are kept in steward_undo_patient.row_before).
-- Reads: steward_undo_patient. Writes: patients (DELETE).
DELETE FROM patients p
 USING patient_pipeline.steward_undo_patient u
 WHERE u.action_id = :action_id AND u.disposition = 'removed' AND p.id = u.patient_id
