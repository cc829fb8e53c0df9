-- Resolve review items by key (import, backfill and matcher items): resolved_at, how (:resolution) and by which action.
-- A backfill key resolves the item's rows of every plan run. Only open items change.
-- Reads/writes: import_review, backfill_review_queue, match_pair ('match:<pair_id>'). Safe to re-run: resolved items are left alone.
WITH i AS (
    UPDATE patient_pipeline.import_review r
       SET resolved_at = now() AT TIME ZONE 'utc', resolution = :resolution, resolved_by = :action_id
     WHERE r.resolved_at IS NULL AND 'import:' || r.review_id = ANY(CAST(:items AS text[]))
    RETURNING 1
), b AS (
    UPDATE patient_pipeline.backfill_review_queue q
       SET resolved_at = now() AT TIME ZONE 'utc', resolution = :resolution, resolved_by = :action_id
     WHERE q.resolved_at IS NULL
       AND 'backfill:' || q.entity || ':' || q.entity_id || ':' || q.reason = ANY(CAST(:items AS text[]))
    RETURNING 1
), m AS (
    UPDATE patient_pipeline.match_pair p
       SET resolved_at = now() AT TIME ZONE 'utc', resolution = :resolution, resolved_by = :action_id
     WHERE p.resolved_at IS NULL AND 'match:' || p.pair_id = ANY(CAST(:items AS text[]))
    RETURNING 1
)
SELECT (SELECT count(*) FROM i) AS import_rows, (SELECT count(*) FROM b) AS backfill_rows,
       (SELECT count(*) FROM m) AS match_rows
