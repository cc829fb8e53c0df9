-- The "Patient pipeline" page: the import ledger of the last :nights nights, one row per night and source.
-- Reads: patient_pipeline.import_file. Writes: nothing. Counts and ids only (no file contents).
-- A "night" is the UTC date a file was registered; dry runs count as files but merge nothing.
SELECT (f.registered_at)::date AS night,
       f.source_id,
       count(*) AS files,
       count(*) FILTER (WHERE f.status = 'done') AS done,
       count(*) FILTER (WHERE f.status IN ('held', 'rejected')) AS held_or_rejected,
       count(*) FILTER (WHERE f.status = 'duplicate') AS duplicate_files,
       coalesce(sum(f.rows_read), 0) AS rows_read,
       coalesce(sum(f.inserted), 0) AS inserted,
       coalesce(sum(f.updated), 0) AS updated,
       coalesce(sum(f.quarantined), 0) AS quarantined,
       coalesce(sum(f.review_items), 0) AS review_items,
       array_agg(DISTINCT f.dag_run_id) FILTER (WHERE f.dag_run_id IS NOT NULL) AS dag_run_ids
FROM patient_pipeline.import_file f
WHERE f.registered_at >= (now() AT TIME ZONE 'utc')::date - make_interval(days => :nights - 1)
GROUP BY 1, 2
ORDER BY 1 DESC, 2
