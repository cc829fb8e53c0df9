-- Undo of an action that resolved review items: every item it resolved is open again.
-- Reads/writes: import_review, backfill_review_queue, match_pair. Safe to re-run: only rows resolved by :action_id.
WITH i AS (
    UPDATE patient_pipeline.import_review SET resolved_at = NULL, resolution = NULL, resolved_by = NULL
     WHERE resolved_by = :action_id
    RETURNING 1
), b AS (
    UPDATE patient_pipeline.backfill_review_queue SET resolved_at = NULL, resolution = NULL, resolved_by = NULL
     WHERE resolved_by = :action_id
    RETURNING 1
), m AS (
    UPDATE patient_pipeline.match_pair SET resolved_at = NULL, resolution = NULL, resolved_by = NULL
     WHERE resolved_by = :action_id
    RETURNING 1
)
SELECT (SELECT count(*) FROM i) AS import_rows, (SELECT count(*) FROM b) AS backfill_rows,
       (SELECT count(*) FROM m) AS match_rows
