-- The review page's queue: open items, the matcher's ranked by probability first, rule-based kinds after
-- them (oldest first), filtered by account, kind and origin (an origin kind such as 'import' / 'matcher' /
-- 'backfill', or an origin such as 'import:12' for one file), one page at a time; `total` = all matching.
-- Reads: patient_pipeline.review_queue. Writes: nothing. Ids, kinds and probabilities only.
SELECT q.item_id, q.kind, q.account_id, q.patient_id, q.candidate_patient_id, q.match_probability,
       q.origin_kind, q.origin, q.created_at, count(*) OVER () AS total
FROM patient_pipeline.review_queue q
WHERE q.status = 'open'
  AND (CAST(:account AS text) IS NULL OR q.account_id = CAST(:account AS text))
  AND (CAST(:kind AS text) IS NULL OR q.kind = CAST(:kind AS text))
  AND (CAST(:origin AS text) IS NULL OR q.origin_kind = CAST(:origin AS text)
       OR q.origin = CAST(:origin AS text) OR starts_with(q.origin, CAST(:origin AS text) || ':'))
ORDER BY q.match_probability DESC NULLS LAST, q.created_at, q.item_id
LIMIT :limit OFFSET :offset
