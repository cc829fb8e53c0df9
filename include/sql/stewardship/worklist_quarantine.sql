-- The open quarantine rows of one file, source and/or night (UTC date the file was registered), in file
-- and record order: what a worklist CSV lists. NULL parameters do not filter.
-- Reads: import_quarantine, import_file. Writes: nothing. (The values go to an owner-only file only.)
SELECT q.file_id, q.record_no, 'quarantine' AS kind, q.reason_code, q.field, q.raw_values, f.source_id
FROM patient_pipeline.import_quarantine q
JOIN patient_pipeline.import_file f ON f.file_id = q.file_id
WHERE q.resolved_at IS NULL
  AND (CAST(:file_id AS bigint) IS NULL OR q.file_id = CAST(:file_id AS bigint))
  AND (CAST(:source_id AS text) IS NULL OR f.source_id = CAST(:source_id AS text))
  AND (CAST(:night AS date) IS NULL OR CAST(f.registered_at AS date) = CAST(:night AS date))
ORDER BY q.file_id, q.record_no
