-- The "Patient pipeline" page: the one review queue's size by kind and status (docs/contracts/identity.md §3). Counts only.
-- Reads: patient_pipeline.review_queue. Writes: nothing.
SELECT kind, count(*) FILTER (WHERE status = 'open') AS open_items,
       count(*) FILTER (WHERE status <> 'open') AS decided_items
FROM patient_pipeline.review_queue
GROUP BY kind
ORDER BY kind
