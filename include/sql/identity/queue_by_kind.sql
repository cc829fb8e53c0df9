-- The review queue's size by kind and status (counts only): what the matcher's report and the UI show.
-- Reads: patient_pipeline.review_queue. Writes: nothing. Safe to re-run.
SELECT kind, status, count(*) AS items
FROM patient_pipeline.review_queue
WHERE CAST(:account_id AS text) IS NULL OR account_id = :account_id OR account_id IS NULL
GROUP BY kind, status
ORDER BY kind, status
