-- Remove one file's quarantine rows before they are rewritten from fresh decisions.
-- Reads/writes: import_quarantine. Safe to re-run: deleting nothing is a no-op.
DELETE FROM patient_pipeline.import_quarantine WHERE file_id = :file_id
