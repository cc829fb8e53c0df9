-- The "Patient pipeline" page: review items nobody has decided yet, by where they come from and why.
-- Reads: patient_pipeline.import_review, patient_pipeline.backfill_review_queue. Writes: nothing.
-- Counts only. The backfill's queue has no resolution column: its items count until a steward acts.
SELECT 'import' AS origin, r.kind AS reason, count(*) AS item_count
FROM patient_pipeline.import_review r
WHERE r.resolved_at IS NULL
GROUP BY r.kind
UNION ALL
SELECT 'backfill' AS origin, q.reason, count(DISTINCT (q.entity, q.entity_id))
FROM patient_pipeline.backfill_review_queue q
GROUP BY q.reason
ORDER BY 1, 2
