-- Quarantined rows of one DAG run per source and reason code. Reads: import_file, import_quarantine.
SELECT f.source_id, q.reason_code, count(*) AS n
FROM patient_pipeline.import_quarantine q JOIN patient_pipeline.import_file f ON f.file_id = q.file_id
WHERE f.dag_run_id = :run_id
GROUP BY f.source_id, q.reason_code ORDER BY f.source_id, q.reason_code
