-- The review page's audit per user: item views and decisions (by outcome), first and last time.
-- Reads: patient_pipeline.review_audit. Writes: nothing. User names and counts only.
SELECT a.actor,
       count(*) FILTER (WHERE a.event = 'view') AS views,
       count(DISTINCT a.item_id) FILTER (WHERE a.event = 'view') AS items_viewed,
       count(*) FILTER (WHERE a.event = 'decision') AS decisions,
       count(*) FILTER (WHERE a.event = 'decision' AND a.outcome = 'applied') AS applied,
       count(*) FILTER (WHERE a.event = 'decision' AND a.outcome <> 'applied') AS not_applied,
       min(a.recorded_at) AS first_at, max(a.recorded_at) AS last_at
FROM patient_pipeline.review_audit a
GROUP BY a.actor
ORDER BY a.actor
