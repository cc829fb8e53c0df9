-- Restore, bookkeeping: mark archive :archive_run_id as restored by :restore_run_id so no later
-- migration restores it again. Runs in the same transaction as restore_01..04.
-- Reads/writes: patient_pipeline.rollback_archives only. Safe to re-run: only a 'verified' archive
-- changes; a restored one keeps its first restoring run.
UPDATE patient_pipeline.rollback_archives
SET status = 'restored', restored_by_run_id = CAST(:restore_run_id AS varchar),
    restored_at = now() AT TIME ZONE 'utc'
WHERE run_id = CAST(:archive_run_id AS varchar) AND status = 'verified'
