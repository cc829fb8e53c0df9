-- The accounts a night's import touched and, per account, the patients it created or changed (the
-- incremental pass scores them against the whole account). Ids only.
-- Reads: patient_pipeline.import_file, patient_pipeline.import_changes. Writes: nothing. Safe to re-run.
SELECT f.account_id::text AS account_id, array_agg(DISTINCT c.patient_id) AS patient_ids
FROM patient_pipeline.import_file f
JOIN patient_pipeline.import_changes c ON c.file_id = f.file_id
WHERE f.dag_run_id = :run_id
GROUP BY f.account_id
ORDER BY f.account_id
