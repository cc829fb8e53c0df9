-- The review page's queue size by kind, origin kind and account (open items): the counts above the list
-- and the choices of its filters. Reads: patient_pipeline.review_queue. Writes: nothing. Counts only.
SELECT q.kind, q.origin_kind, q.account_id, count(*) AS items
FROM patient_pipeline.review_queue q
WHERE q.status = 'open'
GROUP BY q.kind, q.origin_kind, q.account_id
ORDER BY q.kind, q.origin_kind, q.account_id
