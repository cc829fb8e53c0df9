-- The "Patient pipeline" page: the newest migration and rollback run records of the app database.
-- Reads: patient_pipeline.pipeline_runs. Writes: nothing. Revision ids, statuses and times only.
SELECT r.run_id, r.dag_id, r.dry_run, r.status, r.revision_before, r.revision_after,
       r.applied_revisions, r.started_at, r.finished_at
FROM patient_pipeline.pipeline_runs r
ORDER BY r.started_at DESC
LIMIT :limit
