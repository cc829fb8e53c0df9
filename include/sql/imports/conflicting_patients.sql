-- The existing patients an identity_conflict row of one delivery points to: the patient with its external
-- id, and the patient with its e-mail key + first-name key (the key form of decide.sql, docs/contracts/data-model.md §4
-- rule 3), within the account. Ids only, so the caller can name them.
-- Reads: import_decision, patients. Writes: nothing. Run before the delivery's decisions are discarded.
SELECT DISTINCT d.record_no, p.id AS patient_id
FROM patient_pipeline.import_decision d
JOIN patients p
  ON p.account_id = :account_id
 AND ((d.external_id IS NOT NULL AND p.external_id = d.external_id)
      OR (d.email IS NOT NULL AND p.email IS NOT NULL AND patient_pipeline.email_key(p.email) = patient_pipeline.email_key(d.email)
          AND patient_pipeline.key_form(p.first_name) = patient_pipeline.key_form(d.first_name)))
WHERE d.file_id = :file_id AND d.reason = 'identity_conflict'
ORDER BY d.record_no, p.id
