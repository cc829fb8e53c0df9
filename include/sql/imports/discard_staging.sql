-- Discard the staged rows of one file (an unfinished attempt, or a finished file's leftovers).
-- Reads/writes: patient_pipeline.import_staging. Safe to re-run: deleting nothing is a no-op.
DELETE FROM patient_pipeline.import_staging WHERE file_id = :file_id
