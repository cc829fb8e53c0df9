-- Record the field issues of one file: for every staged row that is not quarantined (a quarantined row
-- is reported by the quarantine instead) and whose normalizer dropped an invalid optional value, one
-- row per field with its reason code. Never the value. Returns the number of rows touched.
-- Reads: import_staging, import_decision. Writes: import_field_issue.
-- Safe to re-run: the caller deletes the file's field issues first, in the same transaction.
WITH w AS (
INSERT INTO patient_pipeline.import_field_issue (file_id, record_no, field, reason_code)
SELECT st.file_id, st.record_no, split_part(issue, ':', 1), split_part(issue, ':', 2)
FROM patient_pipeline.import_staging st
CROSS JOIN LATERAL unnest(string_to_array(st.field_issues, ',')) AS issue
WHERE st.file_id = :file_id AND st.field_issues IS NOT NULL AND st.reason IS NULL
  AND NOT EXISTS (
      SELECT 1 FROM patient_pipeline.import_decision d
      WHERE d.file_id = :file_id AND d.record_no = st.record_no AND d.disposition = 'quarantine')
ON CONFLICT DO NOTHING
RETURNING record_no
)
SELECT count(DISTINCT record_no) AS rows_touched FROM w
