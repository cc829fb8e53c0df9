-- Remove the open review items of one file from record :from_record on, before its rows are re-decided
-- (a chunk of the merge met a concurrent writer): they are written again from the fresh decisions.
-- Items a steward already decided are kept.
-- Reads/writes: import_review. Safe to re-run: deleting nothing is a no-op.
DELETE FROM patient_pipeline.import_review
WHERE file_id = :file_id AND record_no >= :from_record AND resolved_at IS NULL
  AND kind IN ('name_dob_match', 'identity_conflict')
