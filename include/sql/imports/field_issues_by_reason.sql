-- Field issues of one file per field and reason code, and the rows they touch (for reports and the
-- reject ratio). Reads: import_field_issue. Writes: nothing.
SELECT field, reason_code, count(*) AS n, count(DISTINCT record_no) AS rows_touched
FROM patient_pipeline.import_field_issue
WHERE file_id = :file_id
GROUP BY field, reason_code ORDER BY field, reason_code
