-- Discard the decisions of one file (from record :from_record on; NULL = all) before they are recomputed
-- (or once the file is done).
-- Reads/writes: patient_pipeline.import_decision. Safe to re-run: deleting nothing is a no-op.
DELETE FROM patient_pipeline.import_decision WHERE file_id = :file_id AND record_no >= coalesce(CAST(:from_record AS integer), 0)
