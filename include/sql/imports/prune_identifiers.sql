-- Cross-reference rows of one chunk's identifiers (:lo..:hi) whose patient no longer exists (an import that
-- was undone, a patient archived outside stewardship): removed before merge_identifiers.sql links the value
-- again, so a dangling row never turns a valid record into a conflict.
-- Reads: import_decision, patients. Writes: patient_identifier. Safe to re-run: deletes only dangling rows.
DELETE FROM patient_pipeline.patient_identifier x
USING patient_pipeline.import_decision d
WHERE d.file_id = :file_id AND d.disposition IN ('insert', 'match') AND d.record_no BETWEEN :lo AND :hi
  AND d.external_id IS NOT NULL
  AND x.account_id = CAST(:account_id AS text) AND x.namespace = CAST(:namespace AS text) AND x.value = d.external_id
  AND NOT EXISTS (SELECT 1 FROM patients p WHERE p.id = x.patient_id)
