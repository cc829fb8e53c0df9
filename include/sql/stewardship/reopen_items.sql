-- Undo of an action that resolved review items: every item it resolved is open again.
-- Reads/writes: import_review, backfill_review_queue, match_pair. A match pair reopens only when no
-- other open item holds the same pair (ux_match_pair_open). Safe to re-run: only rows resolved by :action_id.
WITH i AS (
    UPDATE patient_pipeline.import_review SET resolved_at = NULL, resolution = NULL, resolved_by = NULL
     WHERE resolved_by = :action_id
    RETURNING 1
), b AS (
    UPDATE patient_pipeline.backfill_review_queue SET resolved_at = NULL, resolution = NULL, resolved_by = NULL
     WHERE resolved_by = :action_id
    RETURNING 1
), m AS (
    UPDATE patient_pipeline.match_pair p SET resolved_at = NULL, resolution = NULL, resolved_by = NULL
     WHERE p.resolved_by = :action_id
       AND NOT EXISTS (SELECT 1 FROM patient_pipeline.match_pair o
                       WHERE o.patient_id = p.patient_id AND o.candidate_patient_id = p.candidate_patient_id
                         AND o.resolved_at IS NULL)
    RETURNING 1
)
SELECT (SELECT count(*) FROM i) AS import_rows, (SELECT count(*) FROM b) AS backfill_rows,
       (SELECT count(*) FROM m) AS match_rows
