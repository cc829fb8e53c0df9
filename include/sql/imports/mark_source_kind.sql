-- Record what kind of delivery a ledger row is ('file' by default; 'api' for the intake API's calls).
-- Reads: nothing. Writes: import_file.source_kind of one row. Safe to re-run: sets the same value.
UPDATE patient_pipeline.import_file SET source_kind = :source_kind WHERE file_id = :file_id
