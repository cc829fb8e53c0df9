-- Cross-reference rows of one chunk's identifiers (:lo..:hi) whose patient no longer exists (an import that
-- was undone, a patient archived outside stewardship): removed before merge_identifiers.sql links the value
-- again, so a dangling row never turns a valid record into a conflict.
-- The chunk's identifiers are collected once (the ARRAY is an init plan) and looked up by the primary key
-- (account, namespace, value), each found row's patient by its key (OFFSET 0 keeps that a correlated
-- sub-plan): no join for the planner to turn into a scan of the account's whole namespace, or of the
-- patients, per chunk (that made a 1,000,000-row import quadratic; BENCHMARKS.md, Import).
-- Reads: import_decision, patients. Writes: patient_identifier. Safe to re-run: deletes only dangling rows.
DELETE FROM patient_pipeline.patient_identifier x
WHERE x.account_id = CAST(:account_id AS text) AND x.namespace = CAST(:namespace AS text)
  AND x.value = ANY (ARRAY(
      SELECT d.external_id FROM patient_pipeline.import_decision d
      WHERE d.file_id = :file_id AND d.disposition IN ('insert', 'match') AND d.record_no BETWEEN :lo AND :hi
        AND d.external_id IS NOT NULL))
  AND NOT EXISTS (SELECT 1 FROM patients p WHERE p.id = x.patient_id OFFSET 0)
