-- The "Patient pipeline" page: quarantined rows not yet resolved, by source and reason code.
-- Reads: patient_pipeline.import_quarantine, import_file, backfill_quarantine. Writes: nothing.
-- Counts only (raw_values holds PHI and is never read here). The backfill's quarantine is the current
-- state per run, so only its newest run counts.
SELECT f.source_id AS origin, q.reason_code AS reason, count(*) AS row_count
FROM patient_pipeline.import_quarantine q
JOIN patient_pipeline.import_file f USING (file_id)
WHERE q.resolved_at IS NULL
GROUP BY f.source_id, q.reason_code
UNION ALL
SELECT 'backfill' AS origin, b.reason, count(*)
FROM patient_pipeline.backfill_quarantine b
WHERE b.run_id = (SELECT run_id FROM patient_pipeline.backfill_quarantine
                  ORDER BY recorded_at DESC LIMIT 1)
GROUP BY b.reason
ORDER BY 1, 2
