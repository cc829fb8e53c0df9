-- The "Patient pipeline" page: open review items by where they come from and why, with the ids of the
-- oldest few (each links to the Review page's item). Reads: patient_pipeline.review_queue (the one review
-- view, docs/contracts/identity.md §3). Writes: nothing. Item ids, kinds and counts only; safe to re-run.
SELECT q.origin_kind AS origin, q.kind AS reason, count(*) AS item_count,
       (array_agg(q.item_id ORDER BY q.created_at, q.item_id))[1:5] AS oldest_item_ids
FROM patient_pipeline.review_queue q
WHERE q.status = 'open'
GROUP BY q.origin_kind, q.kind
ORDER BY 1, 2
