-- Discard the decisions of one file before they are recomputed (or once the file is done).
-- Reads/writes: patient_pipeline.import_decision. Safe to re-run: deleting nothing is a no-op.
DELETE FROM patient_pipeline.import_decision WHERE file_id = :file_id
