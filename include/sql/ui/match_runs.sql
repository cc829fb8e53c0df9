-- The "Patient pipeline" page: the matcher's last runs (ids, counts, threshold, model name only).
-- Reads: patient_pipeline.match_run. Writes: nothing.
SELECT match_run_id, account_id, mode, trigger, model_name, threshold, status,
       (counts ->> 'patients')::bigint AS patients, (counts ->> 'pairs_scored')::bigint AS pairs_scored,
       (counts ->> 'above_threshold')::bigint AS above_threshold, (counts ->> 'queued')::bigint AS queued,
       report -> 'pairs_by_rule' AS pairs_by_rule, started_at
FROM patient_pipeline.match_run
ORDER BY match_run_id DESC
LIMIT :limit
