-- How many rows of one file are staged (a resumed attempt re-stages when this differs from the ledger,
-- e.g. after a crash emptied the UNLOGGED table). Reads: import_staging. Writes: nothing.
SELECT count(*) FROM patient_pipeline.import_staging WHERE file_id = :file_id
