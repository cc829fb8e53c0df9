-- Remove one file's field issues before they are rewritten from fresh decisions.
-- Reads/writes: import_field_issue. Safe to re-run: deleting nothing is a no-op.
DELETE FROM patient_pipeline.import_field_issue WHERE file_id = :file_id
