-- One review item by its id (any status), with the stewardship action that decided it.
-- Reads: patient_pipeline.review_queue. Writes: nothing.
SELECT q.item_id, q.kind, q.account_id, q.patient_id, q.candidate_patient_id, q.match_probability,
       q.evidence, q.origin_kind, q.origin, q.status, q.decided_by, q.decided_at, q.created_at,
       q.resolution, q.resolved_by
FROM patient_pipeline.review_queue q
WHERE q.item_id = :item_id
