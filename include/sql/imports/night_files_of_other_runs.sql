-- Why a night found nothing: files of the same sources that OTHER runs registered in the last :hours hours
-- (e.g. the scheduled night that "Unpause on trigger" started beside a manual run and that took the files).
-- Reads: patient_pipeline.import_file. Writes: nothing. Run ids and counts only; safe to re-run.
SELECT f.dag_run_id, count(*) AS files, max(f.registered_at) AS last_registered_at
FROM patient_pipeline.import_file f
WHERE f.source_id = ANY(:source_ids)
  AND f.dag_run_id IS DISTINCT FROM :run_id
  AND f.dag_run_id IS NOT NULL
  AND f.registered_at >= (now() AT TIME ZONE 'utc') - make_interval(hours => :hours)
GROUP BY f.dag_run_id
ORDER BY max(f.registered_at) DESC
LIMIT 5
