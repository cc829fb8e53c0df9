-- Undo of one import file, step 4: the ledger row becomes 'undone' (so the same bytes can be imported
-- again: only registered/staged/merged/done rows count for the SHA-256 dedup), and the file's open review
-- items and quarantine rows are resolved as 'file_undone'.
-- Reads/writes: import_file, import_review, import_quarantine.
WITH f AS (
    UPDATE patient_pipeline.import_file
       SET status = 'undone', undone_by = :action_id, updated_at = now() AT TIME ZONE 'utc'
     WHERE file_id = :file_id AND status = 'done'
    RETURNING 1
), r AS (
    UPDATE patient_pipeline.import_review
       SET resolved_at = now() AT TIME ZONE 'utc', resolution = 'file_undone', resolved_by = :action_id
     WHERE file_id = :file_id AND resolved_at IS NULL
    RETURNING 1
), q AS (
    UPDATE patient_pipeline.import_quarantine
       SET resolved_at = now() AT TIME ZONE 'utc', resolution = 'file_undone', resolved_by = :action_id
     WHERE file_id = :file_id AND resolved_at IS NULL
    RETURNING 1
)
SELECT (SELECT count(*) FROM f) AS ledger_rows, (SELECT count(*) FROM r) AS review_rows,
       (SELECT count(*) FROM q) AS quarantine_rows
