-- The field issues of one file, source and/or night (an optional field that failed validation: the row
-- was imported without that value), as worklist rows. patient_pipeline.import_field_issue (docs/contracts/imports.md
-- "Real-world feeds") keeps file, record number, field and reason code, not the value: the worklist
-- shows which cell to fix. Only run when that table exists (include/stewardship/worklist.py).
-- Reads: import_field_issue, import_file. Writes: nothing.
SELECT i.file_id, i.record_no, 'field_issue' AS kind, i.reason_code, i.field, CAST(NULL AS jsonb) AS raw_values,
       f.source_id
FROM patient_pipeline.import_field_issue i
JOIN patient_pipeline.import_file f ON f.file_id = i.file_id
WHERE f.status <> 'undone'
  AND (CAST(:file_id AS bigint) IS NULL OR i.file_id = CAST(:file_id AS bigint))
  AND (CAST(:source_id AS text) IS NULL OR f.source_id = CAST(:source_id AS text))
  AND (CAST(:night AS date) IS NULL OR CAST(f.registered_at AS date) = CAST(:night AS date))
ORDER BY i.file_id, i.record_no, i.field
