-- Clears this run's quarantine list before plan_14 writes the current one (a fixed source row that
-- now links must not stay listed).
-- Reads: nothing. Writes: patient_pipeline.backfill_quarantine rows of :run_id.
-- Safe to re-run: the list is rebuilt from the plan right after.
DELETE FROM patient_pipeline.backfill_quarantine WHERE run_id = CAST(:run_id AS varchar)
