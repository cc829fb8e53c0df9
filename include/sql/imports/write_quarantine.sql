-- Quarantine every row of one file that was decided 'quarantine', with file, record number, reason code,
-- field and values: the raw record for reader/normalizer reasons, the normalized values for reasons
-- decided in SQL (identity_conflict, conflicting_duplicate) -- both can be fixed and re-imported.
-- Reads: import_decision. Writes: import_quarantine.
-- Safe to re-run: the caller deletes the file's quarantine rows first, in the same transaction.
INSERT INTO patient_pipeline.import_quarantine (file_id, record_no, reason_code, field, raw_values, decided_by)
SELECT d.file_id, d.record_no, d.reason, d.reason_field,
       coalesce(d.raw, jsonb_strip_nulls(jsonb_build_object(
           'external_id', d.external_id, 'first_name', d.first_name, 'last_name', d.last_name,
           'email', d.email, 'phone', d.phone, 'date_of_birth', d.date_of_birth))),
       CASE WHEN d.raw IS NOT NULL THEN 'normalizer' ELSE 'validation' END
FROM patient_pipeline.import_decision d
WHERE d.file_id = :file_id AND d.disposition = 'quarantine'
