-- The existing patients an identity_conflict row of one delivery points to: the patient with its external
-- id, and the patient with its e-mail key + first-name key (the keys of decide.sql and of
-- ux_patients_identity_key), within the account. Ids only, so the caller can name them.
-- Reads: import_decision, patients. Writes: nothing. Run before the delivery's decisions are discarded.
SELECT DISTINCT d.record_no, p.id AS patient_id
FROM patient_pipeline.import_decision d
JOIN patients p
  ON p.account_id = :account_id
 AND ((d.external_id IS NOT NULL AND p.external_id = d.external_id)
      OR (d.email IS NOT NULL AND p.email IS NOT NULL AND lower(btrim(p.email)) = lower(btrim(d.email))
          AND lower(btrim(p.first_name)) = lower(btrim(d.first_name))))
WHERE d.file_id = :file_id AND d.reason = 'identity_conflict'
ORDER BY d.record_no, p.id
