-- Field issues of one DAG run per source and reason code. Reads: import_file, import_field_issue.
SELECT f.source_id, i.reason_code, count(*) AS n
FROM patient_pipeline.import_field_issue i JOIN patient_pipeline.import_file f ON f.file_id = i.file_id
WHERE f.dag_run_id = :run_id
GROUP BY f.source_id, i.reason_code ORDER BY f.source_id, i.reason_code
