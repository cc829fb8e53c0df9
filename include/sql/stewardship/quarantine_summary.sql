-- Open quarantine rows by file and reason code (counts only), optionally of one file, source or night.
-- Reads: import_quarantine, import_file. Writes: nothing.
SELECT q.file_id, f.source_id, q.reason_code, count(*) AS n
FROM patient_pipeline.import_quarantine q
JOIN patient_pipeline.import_file f ON f.file_id = q.file_id
WHERE q.resolved_at IS NULL
  AND (CAST(:file_id AS bigint) IS NULL OR q.file_id = CAST(:file_id AS bigint))
  AND (CAST(:source_id AS text) IS NULL OR f.source_id = CAST(:source_id AS text))
  AND (CAST(:night AS date) IS NULL OR CAST(f.registered_at AS date) = CAST(:night AS date))
GROUP BY q.file_id, f.source_id, q.reason_code
ORDER BY q.file_id, q.reason_code
