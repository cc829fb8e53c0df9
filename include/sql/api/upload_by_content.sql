-- An earlier upload of the same bytes to the same source that is live or done (the ledger's "same bytes
-- twice" rule, ux_import_file_source_sha). Reads: import_file. Writes: nothing.
SELECT file_id, status
FROM patient_pipeline.import_file
WHERE source_id = :source_id AND sha256 = :sha256 AND status IN ('registered', 'staged', 'merged', 'done')
ORDER BY file_id DESC
LIMIT 1
